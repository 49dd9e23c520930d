/** Tenant ids: what the configuration keys tenants by, and never a key JavaScript objects treat specially. */
import { z } from 'zod';

const RESERVED_IDS = new Set(['constructor', 'prototype', 'hasownproperty', 'tostring', 'valueof', 'isprototypeof']);

export const TenantIdSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,62}$/,
    'lowercase letters, digits, "-" and "_", at most 63, starting with a letter or digit',
  )
  .refine((id) => !RESERVED_IDS.has(id), 'a reserved name');

import { type Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from './searchAttributes';
import { SearchAttributeType } from '@temporalio/common';

const GRPC_ALREADY_EXISTS = 6; // another process registered them first
const GRPC_UNIMPLEMENTED = 12;

const INDEXED: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  [SearchAttributeType.KEYWORD]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  [SearchAttributeType.INT]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  [SearchAttributeType.DOUBLE]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
};

/**
 * Registers Switchyard's search attributes on a cluster that lacks them (the dev server gets them
 * on its command line; an external cluster at TEMPORAL_ADDRESS may not have them yet).
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  let missing = SEARCH_ATTRIBUTES;
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    missing = SEARCH_ATTRIBUTES.filter((k) => !(k.name in (existing.customAttributes ?? {})));
  } catch (err) {
    // The time-skipping test server implements Add but not List: then add them all.
    if ((err as { code?: number }).code !== GRPC_UNIMPLEMENTED) throw err;
  }
  if (missing.length === 0) return;
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((k) => [k.name, INDEXED[k.type]!])),
    });
  } catch (err) {
    if ((err as { code?: number }).code !== GRPC_ALREADY_EXISTS) throw err;
  }
}

/** The signature Switchyard's webhooks carry (alerts, usage events): one signer for all of them. */
import { createHmac } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-switchyard-signature';

/** `sha256=<hex>`: HMAC-SHA256 of the exact body sent, keyed by the webhook's secret. */
export const signBody = (secret: string, body: string) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

import { fakeModel } from './stack';

/**
 * The models the Responses API's client tests route to, one per capability they exercise (all
 * on the fake `oa`): `oa/chat` (text), `oa/agent` (tools), `oa/json` (structured output) and
 * `oa/eye` (images). The non-chat ones cost more, so `auto` text requests pick `oa/chat`.
 */
export function responsesModels() {
  return [
    fakeModel('oa', 'chat'),
    fakeModel('oa', 'agent', { capabilities: ['chat', 'tools'], inputPricePerMTok: 1 }),
    fakeModel('oa', 'json', { capabilities: ['chat', 'json'], inputPricePerMTok: 1 }),
    fakeModel('oa', 'eye', { capabilities: ['chat', 'vision'], inputPricePerMTok: 1 }),
  ];
}

/**
 * Switchyard's custom search attributes: how an operator finds a request in the Temporal UI
 * (`SwitchyardTenant = "acme" AND SwitchyardStatus = "failed"`). Pure, importable from workflows.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SA_TENANT = defineSearchAttributeKey('SwitchyardTenant', SearchAttributeType.KEYWORD);
export const SA_OPERATION = defineSearchAttributeKey('SwitchyardOperation', SearchAttributeType.KEYWORD);
export const SA_PROVIDER = defineSearchAttributeKey('SwitchyardProvider', SearchAttributeType.KEYWORD);
export const SA_MODEL = defineSearchAttributeKey('SwitchyardModel', SearchAttributeType.KEYWORD);
export const SA_STATUS = defineSearchAttributeKey('SwitchyardStatus', SearchAttributeType.KEYWORD);
/** What decided the route: `rule:<id>`, `override:<id>`, `requested` or `strategy:<name>`. */
export const SA_ROUTE = defineSearchAttributeKey('SwitchyardRoute', SearchAttributeType.KEYWORD);
export const SA_FALLBACKS = defineSearchAttributeKey('SwitchyardFallbacks', SearchAttributeType.INT);
export const SA_COST_USD = defineSearchAttributeKey('SwitchyardCostUsd', SearchAttributeType.DOUBLE);

export const SEARCH_ATTRIBUTES = [
  SA_TENANT,
  SA_OPERATION,
  SA_PROVIDER,
  SA_MODEL,
  SA_STATUS,
  SA_ROUTE,
  SA_FALLBACKS,
  SA_COST_USD,
];

const CLI_TYPE: Record<string, string> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.DOUBLE]: 'Double',
};

/** `--search-attribute Name=Type` flags for `temporal server start-dev`. */
export function devServerSearchAttributeArgs(): string[] {
  return SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=${CLI_TYPE[k.type]}`]);
}

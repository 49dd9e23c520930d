/**
 * google.protobuf.Struct, Value and ListValue as @grpc/proto-loader decodes and encodes them
 * (`oneofs: true`: a decoded Value names its `kind`), to and from plain JSON. The proto's
 * free-form fields (operation options, results, template variables, records) are JSON either side.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ProtoValue {
  kind?: string;
  nullValue?: string | number;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: ProtoStruct;
  listValue?: ProtoList;
}
export interface ProtoStruct {
  fields?: Record<string, ProtoValue>;
}
export interface ProtoList {
  values?: ProtoValue[];
}

export function fromValue(v: ProtoValue | undefined): Json {
  if (!v) return null;
  const kind = v.kind ?? Object.keys(v).find((k) => k.endsWith('Value'));
  switch (kind) {
    case 'numberValue':
      return v.numberValue ?? 0;
    case 'stringValue':
      return v.stringValue ?? '';
    case 'boolValue':
      return v.boolValue ?? false;
    case 'structValue':
      return fromStruct(v.structValue);
    case 'listValue':
      return fromList(v.listValue);
    default:
      return null;
  }
}

export function fromStruct(s: ProtoStruct | undefined | null): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = fromValue(v);
  return out;
}

export const fromList = (l: ProtoList | undefined | null): Json[] => (l?.values ?? []).map(fromValue);

/** Any JSON-able value (dates become their ISO strings, undefined fields are left out, as JSON does). */
export function toValue(v: unknown): ProtoValue {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (v instanceof Date) return { stringValue: v.toISOString() };
  if (Array.isArray(v)) return { listValue: toList(v) };
  if (typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function')
    return toValue((v as { toJSON(): unknown }).toJSON());
  if (typeof v === 'object') return { structValue: toStruct(v as Record<string, unknown>) };
  return { nullValue: 'NULL_VALUE' };
}

export function toStruct(o: Record<string, unknown>): ProtoStruct {
  const fields: Record<string, ProtoValue> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) fields[k] = toValue(v);
  return { fields };
}

export const toList = (a: readonly unknown[]): ProtoList => ({ values: a.map((v) => toValue(v ?? null)) });

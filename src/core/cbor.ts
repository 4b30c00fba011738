/**
 * The one set of strict CBOR decoding rules for everything Paloma decodes from outside: canonical
 * encodings only, no duplicate keys, no indefinite lengths, no undefined/NaN/Infinity/BigInt. Records and
 * frames that decode under these rules re-encode to the same bytes.
 */
export const STRICT_CBOR_DECODE_OPTIONS = {
  strict: true,
  rejectDuplicateMapKeys: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  useMaps: false,
} as const

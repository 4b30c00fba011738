/**
 * The platform APIs packages/core may use, declared for packages/core/tsconfig.json, which has no DOM and no Node
 * types: the globals that browsers and Node (>= 22) both provide (the WinterTC minimum common API) and
 * that core needs, namely WebCrypto (`crypto.getRandomValues`, `crypto.subtle`), TextEncoder and
 * TextDecoder, `atob` and `URL`. Everything else (`window`, `fetch`, `localStorage`, `process`, `Buffer`,
 * timers...) does not type-check in core, which is the point.
 *
 * Only the members core calls are declared, with looser parameter types than lib.dom: the full program
 * (tsconfig.json, which excludes this file) checks the same code against lib.dom's exact declarations.
 */

type CoreBufferSource = ArrayBuffer | ArrayBufferView
type CoreAlgorithm = string | KeyAlgorithm | { readonly name: string; readonly [param: string]: unknown }

type KeyUsage =
  'encrypt' | 'decrypt' | 'sign' | 'verify' | 'deriveKey' | 'deriveBits' | 'wrapKey' | 'unwrapKey'

interface KeyAlgorithm {
  name: string
}
interface AesKeyAlgorithm extends KeyAlgorithm {
  length: number
}
interface HmacImportParams {
  name: string
  hash: string | { name: string }
  length?: number
}

interface CryptoKey {
  readonly algorithm: KeyAlgorithm
  readonly extractable: boolean
  readonly type: 'private' | 'public' | 'secret'
  readonly usages: KeyUsage[]
}

interface JsonWebKey {
  kty?: string
  crv?: string
  x?: string
  d?: string
}

interface SubtleCrypto {
  importKey(
    format: 'raw' | 'pkcs8' | 'spki',
    keyData: CoreBufferSource,
    algorithm: CoreAlgorithm,
    extractable: boolean,
    usages: KeyUsage[],
  ): Promise<CryptoKey>
  exportKey(format: 'jwk', key: CryptoKey): Promise<JsonWebKey>
  deriveBits(algorithm: CoreAlgorithm, baseKey: CryptoKey, length: number): Promise<ArrayBuffer>
  deriveKey(
    algorithm: CoreAlgorithm,
    baseKey: CryptoKey,
    derivedKeyType: CoreAlgorithm,
    extractable: boolean,
    usages: KeyUsage[],
  ): Promise<CryptoKey>
  sign(algorithm: CoreAlgorithm, key: CryptoKey, data: CoreBufferSource): Promise<ArrayBuffer>
  verify(
    algorithm: CoreAlgorithm,
    key: CryptoKey,
    signature: CoreBufferSource,
    data: CoreBufferSource,
  ): Promise<boolean>
  encrypt(algorithm: CoreAlgorithm, key: CryptoKey, data: CoreBufferSource): Promise<ArrayBuffer>
  decrypt(algorithm: CoreAlgorithm, key: CryptoKey, data: CoreBufferSource): Promise<ArrayBuffer>
  wrapKey(
    format: 'raw',
    key: CryptoKey,
    wrappingKey: CryptoKey,
    wrapAlgorithm: CoreAlgorithm,
  ): Promise<ArrayBuffer>
  unwrapKey(
    format: 'raw',
    wrappedKey: CoreBufferSource,
    unwrappingKey: CryptoKey,
    unwrapAlgorithm: CoreAlgorithm,
    unwrappedKeyAlgorithm: CoreAlgorithm,
    extractable: boolean,
    usages: KeyUsage[],
  ): Promise<CryptoKey>
}

interface Crypto {
  readonly subtle: SubtleCrypto
  getRandomValues<T extends ArrayBufferView>(array: T): T
}

declare var crypto: Crypto

interface TextEncoder {
  encode(input?: string): Uint8Array<ArrayBuffer>
}
declare var TextEncoder: { new (): TextEncoder }

interface TextDecoder {
  decode(input?: CoreBufferSource): string
}
declare var TextDecoder: { new (label?: string, options?: { fatal?: boolean }): TextDecoder }

declare function atob(data: string): string

interface URL {
  hash: string
  toString(): string
}
declare var URL: { new (url: string, base?: string): URL }

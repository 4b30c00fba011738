/**
 * Validators and selectors for Paloma's DHT record namespaces, registered on every node (relays validate
 * PUTs, clients validate GETs). The only namespace is `paloma-profile` (packages/core/protocol/directory.ts);
 * usernames are provider records, which carry no value to validate.
 *
 * Everything else is refused: kad-dht refuses keys without a namespace and namespaces without a
 * validator, and the one namespace it registers by default (`pk`, public-key records) is overridden with
 * a refusal: Ed25519 PeerIds embed their key, so Paloma never needs it.
 *
 * The validator also refuses a valid record older than one this process has already validated for the
 * same identity (kad-dht's PUT handler would otherwise let a replayed old record overwrite a newer one).
 */
import type { SelectFn, ValidateFn } from '@libp2p/kad-dht'
import {
  PROFILE_NAMESPACE,
  SeqHighWater,
  WrongNamespaceError,
  selectProfileRecord,
  validateProfileRecord,
} from '@paloma/core/protocol/directory.ts'

/** Highest sequence number validated per identity, in this process (a relay, a browser tab). */
export const profileHighWater = new SeqHighWater()

const validateProfile: ValidateFn = (key, value) => {
  const { record, peerId } = validateProfileRecord(key, value, Date.now())
  profileHighWater.check(peerId, record.seq)
}

const refuse: ValidateFn = () => {
  throw new WrongNamespaceError('Paloma nodes store no public-key (/pk/) records')
}

export const dhtValidators: Record<string, ValidateFn> = {
  [PROFILE_NAMESPACE]: validateProfile,
  pk: refuse,
}
export const dhtSelectors: Record<string, SelectFn> = {
  [PROFILE_NAMESPACE]: (key, values) => selectProfileRecord(key, values, Date.now()),
}

/**
 * The name of a group's gossipsub topic, derived from the group secret so that it reveals nothing about
 * the group (not its id, members or name) to peers and relays that see topic names:
 * `"paloma/group/1/" || hex(HKDF-SHA-256(salt = 32 zero bytes, ikm = group secret,
 * info = "Paloma_Group_Topic_v1", 32))`.
 * @module
 */
import { toHex } from '../crypto/bytes.ts'
import { hkdfSha256 } from '../crypto/primitives.ts'
import { GROUP_TOPIC_INFO_BYTES, GROUP_TOPIC_PREFIX, KEY_LENGTH } from './constants.ts'
import { MalformedGroupRecordError } from './errors.ts'

/**
 * The gossipsub topic of the group whose secret is `groupSecret`.
 * @throws MalformedGroupRecordError when the secret is not 32 bytes.
 * @example
 * node.services.pubsub.subscribe(groupTopic(groupSecret))
 */
export function groupTopic(groupSecret: Uint8Array): string {
  if (!(groupSecret instanceof Uint8Array) || groupSecret.length !== KEY_LENGTH) {
    throw new MalformedGroupRecordError(`group secret: expected ${KEY_LENGTH} bytes`)
  }
  return (
    GROUP_TOPIC_PREFIX +
    toHex(hkdfSha256(groupSecret, new Uint8Array(KEY_LENGTH), GROUP_TOPIC_INFO_BYTES, 32))
  )
}

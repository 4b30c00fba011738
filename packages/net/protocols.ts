/** Protocol identifiers Paloma speaks over libp2p. Every node, browser or relay, agrees on these. */
export const DHT_PROTOCOL = '/paloma/kad/1.0.0'
export const CHAT_PROTOCOL = '/paloma/chat/1.0.0'

/**
 * UI text in English and Spanish. The browser's preferred language picks one; English is the fallback.
 * Accessible names used by tests are the English strings (see docs/testing.md).
 */
const en = {
  title: 'Paloma',
  connection: 'Connection',
  online: 'Online',
  connecting: 'Connecting',
  offline: 'Offline',
  yourAddress: 'Your address',
  copy: 'Copy',
  copied: 'Copied',
  peerAddress: 'Contact address',
  connect: 'Connect',
  connectingTo: 'Connecting…',
  direct: 'Direct connection',
  relayed: 'Through the relay',
  messages: 'Messages',
  message: 'Message',
  send: 'Send',
  noMessages: 'No messages yet. Say hello!',
  starting: 'Starting…',
  status: { pending: 'Pending', sent: 'Sent', delivered: 'Delivered', read: 'Read' },
  startFailed: 'Paloma could not start',
  shareHint: 'Share your address with the person you want to talk to, or paste theirs below.',
}

export type Strings = typeof en

const es: Strings = {
  title: 'Paloma',
  connection: 'Conexión',
  online: 'En línea',
  connecting: 'Conectando',
  offline: 'Sin conexión',
  yourAddress: 'Tu dirección',
  copy: 'Copiar',
  copied: 'Copiada',
  peerAddress: 'Dirección del contacto',
  connect: 'Conectar',
  connectingTo: 'Conectando…',
  direct: 'Conexión directa',
  relayed: 'A través del relé',
  messages: 'Mensajes',
  message: 'Mensaje',
  send: 'Enviar',
  noMessages: 'Aún no hay mensajes. ¡Saluda!',
  starting: 'Iniciando…',
  status: { pending: 'Pendiente', sent: 'Enviado', delivered: 'Entregado', read: 'Leído' },
  startFailed: 'Paloma no pudo iniciarse',
  shareHint: 'Comparte tu dirección con quien quieras hablar, o pega la suya abajo.',
}

export function pickStrings(languages: readonly string[]): { lang: 'en' | 'es'; t: Strings } {
  for (const l of languages) {
    const base = l.toLowerCase().split('-')[0]
    if (base === 'es') return { lang: 'es', t: es }
    if (base === 'en') return { lang: 'en', t: en }
  }
  return { lang: 'en', t: en }
}

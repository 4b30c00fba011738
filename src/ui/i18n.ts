/**
 * UI text in English and Spanish. The browser's preferred language picks one; English is the fallback.
 * Accessible names used by tests are the English strings (see docs/testing.md).
 *
 * `errors` has a text for every code of every error that can reach a person, by area (src/app/codes.ts);
 * {@link errorText} picks it. The compiler checks each table has exactly the codes of its area.
 */
import {
  MIN_PASSPHRASE_CHARS,
  userError,
  type UserError,
  type UserErrorArea,
  type UserErrorCode,
} from '../app/codes.ts'

type ErrorTexts = { [A in UserErrorArea]: Record<UserErrorCode<A>, string> } & { unknown: string }

const NAME_RULES_EN = 'Usernames are 3 to 32 characters: letters a-z, digits, "_", "." or "-".'
const NAME_RULES_ES =
  'Los nombres de usuario tienen de 3 a 32 caracteres: letras a-z, cifras, "_", "." o "-".'

/** Codes the mailbox and prekey relays share, with the client's own. */
const relayEn = {
  BAD_FRAME: 'The relay could not read the request. Update the app.',
  UNSUPPORTED_VERSION: 'The relay speaks another version of Paloma. Update the app.',
  UNEXPECTED_FRAME: 'The relay did not expect that request. Try again.',
  RATE_LIMITED: 'Sending too fast. Paloma will retry.',
  INTERNAL: 'The relay had a problem. Try again later.',
  UNREACHABLE: 'The relay cannot be reached. Check the network.',
  NO_RESPONSE: 'The relay did not answer. Try again.',
  TIMEOUT: 'The relay did not answer in time. Try again.',
  PROTOCOL: 'The relay answered something unexpected. Try again later, or update the app.',
}
const relayEs: typeof relayEn = {
  BAD_FRAME: 'El relé no pudo leer la petición. Actualiza la app.',
  UNSUPPORTED_VERSION: 'El relé usa otra versión de Paloma. Actualiza la app.',
  UNEXPECTED_FRAME: 'El relé no esperaba esa petición. Inténtalo de nuevo.',
  RATE_LIMITED: 'Envías demasiado rápido. Paloma lo reintentará.',
  INTERNAL: 'El relé tuvo un problema. Inténtalo más tarde.',
  UNREACHABLE: 'No se puede llegar al relé. Comprueba la red.',
  NO_RESPONSE: 'El relé no respondió. Inténtalo de nuevo.',
  TIMEOUT: 'El relé no respondió a tiempo. Inténtalo de nuevo.',
  PROTOCOL: 'El relé respondió algo inesperado. Inténtalo más tarde o actualiza la app.',
}

const errorsEn = {
  vault: {
    WRONG_PASSPHRASE: 'Wrong passphrase: check it and try again. Nothing was changed.',
    VAULT_CORRUPTED:
      'The data of this account on this device is damaged: restore your account from a backup.',
    VAULT_LOCKED: 'Paloma is locked: unlock it with your passphrase first.',
    VAULT_NOT_FOUND: 'There is no account in this browser: create one, or restore a backup.',
    VAULT_EXISTS:
      'An account already exists in this browser: unlock it, or delete it before creating or restoring another.',
    EMPTY_PASSPHRASE: 'Enter a passphrase.',
    SHORT_PASSPHRASE: `Use at least ${MIN_PASSPHRASE_CHARS} characters.`,
    INVALID_KDF_PARAMS: 'This account uses settings this version of Paloma does not accept. Update the app.',
    INVALID_BACKUP:
      'This file is not a Paloma backup, or it is damaged: choose the file exported from Paloma.',
    UNSUPPORTED_BACKUP: 'This backup was made by a newer version of Paloma: update the app to restore it.',
  },
  directory: {
    MALFORMED_RECORD: 'The directory returned a record that is not valid. Try again later.',
    RECORD_TOO_LARGE: 'Your profile is too large for the directory.',
    WRONG_NAMESPACE: 'That is not a Paloma identity.',
    IDENTITY_MISMATCH: 'The directory returned a record of someone else. Try again later.',
    BAD_SIGNATURE: 'A directory record had a forged or damaged signature and was ignored. Try again later.',
    EXPIRED_RECORD: 'That person’s directory record has expired: they have not been online for a while.',
    FUTURE_RECORD: 'A directory record is dated in the future: a clock is wrong. Check this device’s clock.',
    STALE_RECORD: 'The directory returned an old record. Try again later.',
    INVALID_NAME: NAME_RULES_EN,
    WRONG_KEY: 'Paloma could not start its directory. Reload the page.',
    DIRECTORY_UNAVAILABLE:
      'The directory is unreachable: no relay answered in time. Check the network and try again.',
    PROFILE_NOT_FOUND:
      'Nobody with that identity was found: they may not have been online for more than two days.',
    PROFILE_WITHDRAWN: 'That person deleted their account.',
  },
  invite: {
    BAD_INVITE: 'This is not a valid Paloma invite link. Ask for a new one.',
    UNSUPPORTED_INVITE: 'This invite was made by a newer version of Paloma. Update the app.',
    BAD_INVITE_IDENTITY: 'This invite does not name a valid Paloma identity. Ask for a new one.',
  },
  mailbox: {
    ...relayEn,
    TOO_LARGE: 'The message is too large for the relays.',
    RECIPIENT_QUOTA: 'Their mailbox on the relays is full. Paloma will retry.',
    SENDER_QUOTA: 'You have too many undelivered messages on the relays. Paloma will retry.',
    BAD_RECIPIENT: 'The relay does not accept that recipient.',
  },
  prekeys: {
    ...relayEn,
    TOO_LARGE: 'Too many keys at once for the relay.',
    BAD_RECORD: 'The relay refused or served a damaged one-time key. Paloma will use another.',
    BAD_SIGNATURE: 'The relay refused a one-time key that is not signed by this account.',
    BAD_OWNER: 'That is not a Paloma identity.',
    OWNER_QUOTA: 'The relay holds as many of your one-time keys as it allows.',
  },
  config: {
    INVALID_CONFIG: 'This copy of Paloma is misconfigured (config.json). Tell whoever runs it.',
    INVALID_RELAYS: 'This copy of Paloma is misconfigured (its relay list). Tell whoever runs it.',
    INVALID_ICE_SERVERS: 'This copy of Paloma is misconfigured (its ICE servers). Tell whoever runs it.',
    CONFIG_UNAVAILABLE: 'Paloma could not load its settings (config.json). Check the connection and reload.',
  },
  app: {
    LOCKED: 'Paloma is locked: unlock it first.',
    NOT_CONNECTED: 'Paloma is not connected yet. Try again in a moment.',
    ACCOUNT_EXISTS: 'An account already exists on this device.',
    NO_ACCOUNT: 'This vault holds no account. Restore a backup or delete it.',
    OWN_INVITE: 'That is your own invite.',
    UNKNOWN_CONTACT: 'That person is not one of your contacts.',
    NO_CHAT_OPEN: 'Open a chat first.',
    NOT_INVITE_OR_NAME: `That is neither an invite link nor a username. ${NAME_RULES_EN}`,
    MESSAGE_TOO_LONG: 'The message is too long: split it into several.',
    BAD_RECORD:
      'Some data on this device is damaged or was written by a newer version of Paloma. Update the app or restore a backup.',
    CONTACT_HELD: 'Verify the safety number with this contact before writing to them.',
    NO_INVITE: 'That invite was already handled.',
  },
  groups: {
    UNKNOWN_GROUP: 'That group is not on this device.',
    NOT_A_MEMBER: 'You are no longer a member of this group.',
    NOT_ALLOWED: 'Only the group’s creator or an admin can do that.',
    GROUP_FULL: 'A group can have at most 256 members.',
    BAD_GROUP_NAME: 'Give the group a name of 1 to 64 characters.',
    NO_MEMBERS: 'Choose at least one contact who is not in the group yet.',
    RATE_LIMITED: 'Sending too fast in this group. Wait a moment.',
  },
  unknown: 'Something went wrong. Try again; if it keeps happening, reload Paloma.',
} satisfies ErrorTexts

const errorsEs: ErrorTexts = {
  vault: {
    WRONG_PASSPHRASE: 'Frase de paso incorrecta: revísala e inténtalo de nuevo. No se ha cambiado nada.',
    VAULT_CORRUPTED:
      'Los datos de esta cuenta en este dispositivo están dañados: restaura tu cuenta desde una copia.',
    VAULT_LOCKED: 'Paloma está bloqueada: desbloquéala primero con tu frase de paso.',
    VAULT_NOT_FOUND: 'No hay ninguna cuenta en este navegador: crea una o restaura una copia.',
    VAULT_EXISTS:
      'Ya hay una cuenta en este navegador: desbloquéala, o elimínala antes de crear o restaurar otra.',
    EMPTY_PASSPHRASE: 'Escribe una frase de paso.',
    SHORT_PASSPHRASE: `Usa al menos ${MIN_PASSPHRASE_CHARS} caracteres.`,
    INVALID_KDF_PARAMS: 'Esta cuenta usa ajustes que esta versión de Paloma no acepta. Actualiza la app.',
    INVALID_BACKUP:
      'Este archivo no es una copia de Paloma, o está dañado: elige el archivo exportado desde Paloma.',
    UNSUPPORTED_BACKUP:
      'Esta copia se hizo con una versión más nueva de Paloma: actualiza la app para restaurarla.',
  },
  directory: {
    MALFORMED_RECORD: 'El directorio devolvió un registro no válido. Inténtalo más tarde.',
    RECORD_TOO_LARGE: 'Tu perfil es demasiado grande para el directorio.',
    WRONG_NAMESPACE: 'Eso no es una identidad de Paloma.',
    IDENTITY_MISMATCH: 'El directorio devolvió un registro de otra persona. Inténtalo más tarde.',
    BAD_SIGNATURE:
      'Un registro del directorio tenía una firma falsa o dañada y se ignoró. Inténtalo más tarde.',
    EXPIRED_RECORD: 'El registro de esa persona en el directorio ha caducado: hace tiempo que no se conecta.',
    FUTURE_RECORD:
      'Un registro del directorio tiene fecha futura: algún reloj está mal. Comprueba el reloj de este dispositivo.',
    STALE_RECORD: 'El directorio devolvió un registro antiguo. Inténtalo más tarde.',
    INVALID_NAME: NAME_RULES_ES,
    WRONG_KEY: 'Paloma no pudo iniciar su directorio. Recarga la página.',
    DIRECTORY_UNAVAILABLE:
      'No se puede acceder al directorio: ningún relé respondió a tiempo. Comprueba la red e inténtalo de nuevo.',
    PROFILE_NOT_FOUND:
      'No se encontró a nadie con esa identidad: puede que lleve más de dos días sin conectarse.',
    PROFILE_WITHDRAWN: 'Esa persona eliminó su cuenta.',
  },
  invite: {
    BAD_INVITE: 'Este no es un enlace de invitación de Paloma válido. Pide uno nuevo.',
    UNSUPPORTED_INVITE: 'Esta invitación se hizo con una versión más nueva de Paloma. Actualiza la app.',
    BAD_INVITE_IDENTITY: 'Esta invitación no contiene una identidad de Paloma válida. Pide una nueva.',
  },
  mailbox: {
    ...relayEs,
    TOO_LARGE: 'El mensaje es demasiado grande para los relés.',
    RECIPIENT_QUOTA: 'Su buzón en los relés está lleno. Paloma lo reintentará.',
    SENDER_QUOTA: 'Tienes demasiados mensajes sin entregar en los relés. Paloma lo reintentará.',
    BAD_RECIPIENT: 'El relé no acepta ese destinatario.',
  },
  prekeys: {
    ...relayEs,
    TOO_LARGE: 'Demasiadas claves a la vez para el relé.',
    BAD_RECORD: 'El relé rechazó o entregó una clave de un solo uso dañada. Paloma usará otra.',
    BAD_SIGNATURE: 'El relé rechazó una clave de un solo uso que no está firmada por esta cuenta.',
    BAD_OWNER: 'Eso no es una identidad de Paloma.',
    OWNER_QUOTA: 'El relé ya guarda tantas claves de un solo uso tuyas como permite.',
  },
  config: {
    INVALID_CONFIG: 'Esta copia de Paloma está mal configurada (config.json). Avisa a quien la administra.',
    INVALID_RELAYS:
      'Esta copia de Paloma está mal configurada (su lista de relés). Avisa a quien la administra.',
    INVALID_ICE_SERVERS:
      'Esta copia de Paloma está mal configurada (sus servidores ICE). Avisa a quien la administra.',
    CONFIG_UNAVAILABLE:
      'Paloma no pudo cargar su configuración (config.json). Comprueba la conexión y recarga la página.',
  },
  app: {
    LOCKED: 'Paloma está bloqueada: desbloquéala primero.',
    NOT_CONNECTED: 'Paloma aún no está conectada. Inténtalo de nuevo en un momento.',
    ACCOUNT_EXISTS: 'Ya hay una cuenta en este dispositivo.',
    NO_ACCOUNT: 'Este almacén no contiene ninguna cuenta. Restaura una copia o elimínalo.',
    OWN_INVITE: 'Esa es tu propia invitación.',
    UNKNOWN_CONTACT: 'Esa persona no está entre tus contactos.',
    NO_CHAT_OPEN: 'Abre un chat primero.',
    NOT_INVITE_OR_NAME: `Eso no es ni un enlace de invitación ni un nombre de usuario. ${NAME_RULES_ES}`,
    MESSAGE_TOO_LONG: 'El mensaje es demasiado largo: divídelo en varios.',
    BAD_RECORD:
      'Algunos datos de este dispositivo están dañados o los escribió una versión más nueva de Paloma. Actualiza la app o restaura una copia.',
    CONTACT_HELD: 'Verifica el número de seguridad con este contacto antes de escribirle.',
    NO_INVITE: 'Esa invitación ya se atendió.',
  },
  groups: {
    UNKNOWN_GROUP: 'Ese grupo no está en este dispositivo.',
    NOT_A_MEMBER: 'Ya no eres miembro de este grupo.',
    NOT_ALLOWED: 'Solo quien creó el grupo o un administrador puede hacer eso.',
    GROUP_FULL: 'Un grupo puede tener como máximo 256 miembros.',
    BAD_GROUP_NAME: 'Ponle al grupo un nombre de 1 a 64 caracteres.',
    NO_MEMBERS: 'Elige al menos un contacto que aún no esté en el grupo.',
    RATE_LIMITED: 'Envías demasiado rápido en este grupo. Espera un momento.',
  },
  unknown: 'Algo salió mal. Inténtalo de nuevo; si sigue pasando, recarga Paloma.',
}

const en = {
  title: 'Paloma',
  tagline: 'Private messages, browser to browser. No accounts server, no phone number.',
  connection: 'Connection',
  online: 'Online',
  connecting: 'Connecting',
  offline: 'Offline',
  starting: 'Starting…',
  startFailed: 'Paloma could not start',
  otherTab: 'Paloma is open in another tab. Close it there, then reload this page.',
  // account
  createTitle: 'Create your account',
  createHint:
    'Your keys are made on this device and never leave it. Choose a passphrase you will remember: nobody can reset it.',
  username: 'Username',
  passphrase: 'Passphrase',
  confirmPassphrase: 'Repeat passphrase',
  createAccount: 'Create account',
  passphrasesDiffer: 'The passphrases differ.',
  unlockTitle: 'Welcome back',
  unlockHint: 'Enter your passphrase to unlock Paloma on this device.',
  unlock: 'Unlock',
  lock: 'Lock',
  importTitle: 'Restore from a backup',
  backupFile: 'Backup file',
  backupPassphrase: 'Backup passphrase',
  newPassphrase: 'New passphrase',
  restore: 'Restore',
  working: 'Working…',
  // contacts
  shareInvite: 'Share invite',
  inviteLink: 'Invite link',
  inviteQr: 'Invite QR code',
  inviteHint: 'Send this link to someone (or let them scan the code) so they can add you.',
  copy: 'Copy',
  copied: 'Copied',
  close: 'Close',
  addContact: 'Add contact',
  inviteOrUsername: 'Invite link or username',
  add: 'Add',
  claimantsTitle: 'Several people use this name. Pick the one whose fingerprint they gave you:',
  noClaimants: 'Nobody with that username was found.',
  choose: 'Choose',
  chats: 'Chats',
  noChats: 'No chats yet. Share your invite or add a contact.',
  // conversation
  messages: 'Messages',
  message: 'Message',
  send: 'Send',
  noMessages: 'No messages yet. Say hello!',
  pickChat: 'Pick a chat, or add a contact to start one.',
  status: { pending: 'Pending', sent: 'Sent', delivered: 'Delivered', read: 'Read' },
  onlineNow: 'online',
  lastSeen: 'last seen',
  typing: 'typing…',
  direct: 'Direct connection',
  relayed: 'Through the relays',
  safetyNumber: 'Safety number',
  safetyHint:
    'Compare these digits with your contact in person or on a call. If they match, nobody is in between.',
  keyChanged:
    'Warning: the safety number with this contact changed. They may have reinstalled Paloma, or someone may be impersonating them. Verify before trusting it.',
  acceptKey: 'I verified it',
  fingerprint: 'Fingerprint',
  // settings
  settings: 'Settings',
  readReceipts: 'Send read receipts',
  sharePresence: 'Share online status and last seen',
  exportBackup: 'Export backup',
  includeHistory: 'Include message history',
  changePassphrase: 'Change passphrase',
  oldPassphrase: 'Current passphrase',
  change: 'Change',
  passphraseChanged: 'Passphrase changed.',
  deleteAccount: 'Delete account',
  deleteConfirm: 'Delete your account and everything on this device? This cannot be undone.',
  notPersistent:
    'This browser may clear Paloma’s data when space runs low. Install the app or allow persistent storage to keep your messages.',
  newMessageFrom: 'New message from',
  requestFrom: 'Message request from',
  requestBody: 'Someone who is not a contact wrote to you. Open Paloma to accept, block or delete.',
  problems: {
    TOO_LARGE: 'Too large for the relays.',
    RECIPIENT_QUOTA: 'Their mailbox is full. Retrying…',
    SENDER_QUOTA: 'You have too many undelivered messages on the relays. Retrying…',
    RATE_LIMITED: 'Sending too fast. Retrying…',
  } as Record<string, string>,
  // layout, chats, requests
  account: 'Account',
  back: 'Back to chats',
  filterChats: 'Filter chats',
  noMatches: 'No chat matches that name.',
  requests: 'Requests',
  requestsHint:
    'People who are not your contacts. Nothing is sent to them (not even receipts) until you accept.',
  accept: 'Accept',
  block: 'Block',
  delete: 'Delete',
  nameTakenWarning: 'Careful: one of your contacts already uses this name. This is someone else.',
  presenceOnline: 'online',
  presenceOffline: 'offline',
  youPrefix: 'You:',
  unreadCount: (n: number) => (n === 1 ? '1 unread message' : `${n} unread messages`),
  verified: 'Verified',
  // conversation
  today: 'Today',
  yesterday: 'Yesterday',
  newMessages: 'New messages',
  retry: 'Retry',
  lastSeenAt: (when: string) => `last seen ${when}`,
  composerHint: 'Enter sends, Shift+Enter adds a line',
  loadEarlier: 'Earlier messages',
  loadNewest: 'Newest messages',
  markVerified: 'Mark as verified',
  markUnverified: 'Mark as not verified',
  safetyQr: 'Safety number QR code',
  safetyScanHint: 'Or scan each other’s code: if it shows the same digits, you can mark it verified.',
  heldTitle: 'This contact’s safety number changed',
  held: (name: string) =>
    `You had verified ${name}, but this is another key under that name. They may have reinstalled Paloma, or someone may be impersonating them. Their messages are hidden and nothing is sent until you compare the new safety number and mark it verified.`,
  // invites
  invitedYou: (name: string) => `${name} invited you to chat on Paloma.`,
  inviteCreateFirst: (name: string) =>
    `${name} invited you. Create your account, then add them with one click.`,
  inviteKnown: (name: string) => `${name} is already one of your contacts.`,
  ownInvite: 'This is your own invite link.',
  notNow: 'Not now',
  scanQr: 'Scan a QR code',
  stopScan: 'Stop scanning',
  scanHint: 'Point the camera at the invite’s QR code.',
  noCamera: 'No camera is available here: paste the invite link instead.',
  // connection details
  connectionDetails: 'Connection details',
  relays: 'Relays',
  relayConnected: 'connected',
  relayDisconnected: 'not connected',
  relayReserved: 'reachable through it',
  relayMailbox: 'mailbox open',
  relayLearned: 'learned from a contact',
  rtt: (ms: number) => `${ms} ms round trip`,
  routes: 'Chats',
  routeDirect: 'direct (WebRTC)',
  routeRelays: 'through the relays',
  routeHidden: 'hidden while presence is off',
  outbox: 'Waiting to send',
  pendingCount: (n: number) => (n === 1 ? '1 message waiting' : `${n} messages waiting`),
  nothingWaiting: 'Nothing is waiting.',
  nextRetry: (when: string) => `next try at ${when}`,
  retryNow: 'Retry now',
  lastError: 'Last problem',
  noProblem: 'No problem so far.',
  diagnostics: {
    RELAY_LOST: 'The connection to a relay was lost. Paloma reconnects by itself.',
    NO_NETWORK: 'This device has no network.',
    NO_RELAY: 'No relay can be reached. Check the network, or ask whoever runs Paloma here.',
    TOO_LARGE: 'A message was too large for the relays.',
    RECIPIENT_QUOTA: 'A contact’s mailbox on the relays is full.',
    SENDER_QUOTA: 'You have too many undelivered messages on the relays.',
    RATE_LIMITED: 'The relays asked Paloma to send more slowly.',
  } as Record<string, string>,
  // settings
  privacy: 'Privacy',
  notifications: 'Notifications',
  notificationText: 'Show message text in notifications',
  newMessage: 'New message',
  language: 'Language',
  theme: 'Theme',
  themes: { system: 'System', light: 'Light', dark: 'Dark' },
  autoLock: 'Auto-lock',
  autoLockNever: 'Never',
  autoLockMinutes: (n: number) => (n === 1 ? 'After 1 minute' : `After ${n} minutes`),
  blocked: 'Blocked',
  unblock: 'Unblock',
  noBlocked: 'Nobody is blocked.',
  cancel: 'Cancel',
  forgotPassphrase: 'Forgot your passphrase?',
  forgotHint:
    'Nobody can reset it. You can delete this account from this browser and create a new one (or restore a backup).',
  // updates
  updateAvailable: 'A new version of Paloma is available.',
  update: 'Update',
  reload: 'Reload',
  errors: errorsEn as ErrorTexts,
  // groups
  newGroup: 'New group',
  groupName: 'Group name',
  chooseGroupMembers: 'Choose contacts',
  createGroup: 'Create group',
  noContactsForGroup: 'Add contacts first: a group is made of your contacts.',
  members: 'Members',
  addMembers: 'Add members',
  addToGroup: 'Add to group',
  leaveGroup: 'Leave group',
  removeMember: (name: string) => `Remove ${name}`,
  groupInvitations: 'Group invitations',
  invitedBy: (name: string, fingerprint: string) => `Invitation from ${name} (${fingerprint})`,
  memberCount: (n: number) => (n === 1 ? '1 member' : `${n} members`),
  join: 'Join',
  decline: 'Decline',
  deliveredTo: (n: number, of: number) => `Delivered to ${n} of ${of}`,
  readBy: (n: number, of: number) => `Read by ${n} of ${of}`,
  typingNames: (names: readonly string[]) => `${names.join(', ')} typing…`,
  youLeft: 'You left this group.',
  youWereRemoved: 'You were removed from this group.',
  roles: { creator: 'creator', admin: 'admin', member: 'member' },
  verification: {
    self: 'you',
    contact: 'contact',
    'key-changed': 'key changed',
    'not-contact': 'not a contact',
  },
}

export type Strings = typeof en

const es: Strings = {
  title: 'Paloma',
  tagline: 'Mensajes privados, de navegador a navegador. Sin servidor de cuentas, sin número de teléfono.',
  connection: 'Conexión',
  online: 'En línea',
  connecting: 'Conectando',
  offline: 'Sin conexión',
  starting: 'Iniciando…',
  startFailed: 'Paloma no pudo iniciarse',
  otherTab: 'Paloma está abierta en otra pestaña. Ciérrala allí y recarga esta página.',
  createTitle: 'Crea tu cuenta',
  createHint:
    'Tus claves se crean en este dispositivo y nunca salen de él. Elige una frase de paso que recuerdes: nadie puede restablecerla.',
  username: 'Nombre de usuario',
  passphrase: 'Frase de paso',
  confirmPassphrase: 'Repite la frase de paso',
  createAccount: 'Crear cuenta',
  passphrasesDiffer: 'Las frases de paso no coinciden.',
  unlockTitle: 'Hola de nuevo',
  unlockHint: 'Escribe tu frase de paso para desbloquear Paloma en este dispositivo.',
  unlock: 'Desbloquear',
  lock: 'Bloquear',
  importTitle: 'Restaurar desde una copia',
  backupFile: 'Archivo de copia',
  backupPassphrase: 'Frase de paso de la copia',
  newPassphrase: 'Nueva frase de paso',
  restore: 'Restaurar',
  working: 'Un momento…',
  shareInvite: 'Compartir invitación',
  inviteLink: 'Enlace de invitación',
  inviteQr: 'Código QR de invitación',
  inviteHint: 'Envía este enlace a alguien (o deja que escanee el código) para que pueda añadirte.',
  copy: 'Copiar',
  copied: 'Copiado',
  close: 'Cerrar',
  addContact: 'Añadir contacto',
  inviteOrUsername: 'Enlace de invitación o nombre de usuario',
  add: 'Añadir',
  claimantsTitle: 'Varias personas usan este nombre. Elige la que tenga la huella que te dieron:',
  noClaimants: 'No se encontró a nadie con ese nombre.',
  choose: 'Elegir',
  chats: 'Chats',
  noChats: 'Aún no hay chats. Comparte tu invitación o añade un contacto.',
  messages: 'Mensajes',
  message: 'Mensaje',
  send: 'Enviar',
  noMessages: 'Aún no hay mensajes. ¡Saluda!',
  pickChat: 'Elige un chat, o añade un contacto para empezar uno.',
  status: { pending: 'Pendiente', sent: 'Enviado', delivered: 'Entregado', read: 'Leído' },
  onlineNow: 'en línea',
  lastSeen: 'últ. vez',
  typing: 'escribiendo…',
  direct: 'Conexión directa',
  relayed: 'A través de los relés',
  safetyNumber: 'Número de seguridad',
  safetyHint:
    'Compara estos dígitos con tu contacto en persona o por llamada. Si coinciden, nadie está en medio.',
  keyChanged:
    'Atención: el número de seguridad con este contacto cambió. Puede que haya reinstalado Paloma, o que alguien se haga pasar por él. Verifícalo antes de confiar.',
  acceptKey: 'Lo he verificado',
  fingerprint: 'Huella',
  settings: 'Ajustes',
  readReceipts: 'Enviar confirmaciones de lectura',
  sharePresence: 'Compartir estado en línea y última vez',
  exportBackup: 'Exportar copia',
  includeHistory: 'Incluir el historial de mensajes',
  changePassphrase: 'Cambiar frase de paso',
  oldPassphrase: 'Frase de paso actual',
  change: 'Cambiar',
  passphraseChanged: 'Frase de paso cambiada.',
  deleteAccount: 'Eliminar cuenta',
  deleteConfirm: '¿Eliminar tu cuenta y todo lo guardado en este dispositivo? No se puede deshacer.',
  notPersistent:
    'Este navegador podría borrar los datos de Paloma si falta espacio. Instala la app o permite el almacenamiento persistente para conservar tus mensajes.',
  newMessageFrom: 'Nuevo mensaje de',
  requestFrom: 'Solicitud de mensaje de',
  requestBody: 'Alguien que no es un contacto te escribió. Abre Paloma para aceptar, bloquear o eliminar.',
  problems: {
    TOO_LARGE: 'Demasiado grande para los relés.',
    RECIPIENT_QUOTA: 'Su buzón está lleno. Reintentando…',
    SENDER_QUOTA: 'Tienes demasiados mensajes sin entregar en los relés. Reintentando…',
    RATE_LIMITED: 'Envías demasiado rápido. Reintentando…',
  },
  account: 'Cuenta',
  back: 'Volver a los chats',
  filterChats: 'Filtrar chats',
  noMatches: 'Ningún chat coincide con ese nombre.',
  requests: 'Solicitudes',
  requestsHint:
    'Personas que no son tus contactos. No se les envía nada (ni confirmaciones) hasta que aceptes.',
  accept: 'Aceptar',
  block: 'Bloquear',
  delete: 'Eliminar',
  nameTakenWarning: 'Cuidado: uno de tus contactos ya usa este nombre. Esta es otra persona.',
  presenceOnline: 'en línea',
  presenceOffline: 'desconectado',
  youPrefix: 'Tú:',
  unreadCount: (n: number) => (n === 1 ? '1 mensaje sin leer' : `${n} mensajes sin leer`),
  verified: 'Verificado',
  today: 'Hoy',
  yesterday: 'Ayer',
  newMessages: 'Mensajes nuevos',
  retry: 'Reintentar',
  lastSeenAt: (when: string) => `últ. vez ${when}`,
  composerHint: 'Intro envía, Mayús+Intro añade una línea',
  loadEarlier: 'Mensajes anteriores',
  loadNewest: 'Mensajes más recientes',
  markVerified: 'Marcar como verificado',
  markUnverified: 'Marcar como no verificado',
  safetyQr: 'Código QR del número de seguridad',
  safetyScanHint:
    'O escaneáis el código del otro: si muestra los mismos dígitos, puedes marcarlo como verificado.',
  heldTitle: 'El número de seguridad de este contacto cambió',
  held: (name: string) =>
    `Habías verificado a ${name}, pero esta es otra clave con ese nombre. Puede que haya reinstalado Paloma, o que alguien se haga pasar por él. Sus mensajes están ocultos y no se envía nada hasta que compares el nuevo número de seguridad y lo marques como verificado.`,
  invitedYou: (name: string) => `${name} te invitó a chatear en Paloma.`,
  inviteCreateFirst: (name: string) => `${name} te invitó. Crea tu cuenta y añádelo con un clic.`,
  inviteKnown: (name: string) => `${name} ya es uno de tus contactos.`,
  ownInvite: 'Este es tu propio enlace de invitación.',
  notNow: 'Ahora no',
  scanQr: 'Escanear un código QR',
  stopScan: 'Dejar de escanear',
  scanHint: 'Apunta la cámara al código QR de la invitación.',
  noCamera: 'Aquí no hay cámara disponible: pega el enlace de invitación.',
  connectionDetails: 'Detalles de la conexión',
  relays: 'Relés',
  relayConnected: 'conectado',
  relayDisconnected: 'sin conexión',
  relayReserved: 'localizable a través de él',
  relayMailbox: 'buzón abierto',
  relayLearned: 'conocido por un contacto',
  rtt: (ms: number) => `${ms} ms de ida y vuelta`,
  routes: 'Chats',
  routeDirect: 'directo (WebRTC)',
  routeRelays: 'a través de los relés',
  routeHidden: 'oculto mientras la presencia está desactivada',
  outbox: 'Pendiente de envío',
  pendingCount: (n: number) => (n === 1 ? '1 mensaje esperando' : `${n} mensajes esperando`),
  nothingWaiting: 'No hay nada esperando.',
  nextRetry: (when: string) => `próximo intento a las ${when}`,
  retryNow: 'Reintentar ahora',
  lastError: 'Último problema',
  noProblem: 'Ningún problema por ahora.',
  diagnostics: {
    RELAY_LOST: 'Se perdió la conexión con un relé. Paloma se vuelve a conectar sola.',
    NO_NETWORK: 'Este dispositivo no tiene red.',
    NO_RELAY: 'No se llega a ningún relé. Comprueba la red o avisa a quien administra Paloma aquí.',
    TOO_LARGE: 'Un mensaje era demasiado grande para los relés.',
    RECIPIENT_QUOTA: 'El buzón de un contacto en los relés está lleno.',
    SENDER_QUOTA: 'Tienes demasiados mensajes sin entregar en los relés.',
    RATE_LIMITED: 'Los relés pidieron a Paloma que envíe más despacio.',
  },
  privacy: 'Privacidad',
  notifications: 'Notificaciones',
  notificationText: 'Mostrar el texto del mensaje en las notificaciones',
  newMessage: 'Mensaje nuevo',
  language: 'Idioma',
  theme: 'Tema',
  themes: { system: 'Sistema', light: 'Claro', dark: 'Oscuro' },
  autoLock: 'Bloqueo automático',
  autoLockNever: 'Nunca',
  autoLockMinutes: (n: number) => (n === 1 ? 'Tras 1 minuto' : `Tras ${n} minutos`),
  blocked: 'Bloqueados',
  unblock: 'Desbloquear',
  noBlocked: 'No hay nadie bloqueado.',
  cancel: 'Cancelar',
  forgotPassphrase: '¿Olvidaste tu frase de paso?',
  forgotHint:
    'Nadie puede restablecerla. Puedes eliminar esta cuenta de este navegador y crear una nueva (o restaurar una copia).',
  updateAvailable: 'Hay una nueva versión de Paloma.',
  update: 'Actualización',
  reload: 'Recargar',
  errors: errorsEs,
  newGroup: 'Nuevo grupo',
  groupName: 'Nombre del grupo',
  chooseGroupMembers: 'Elige contactos',
  createGroup: 'Crear grupo',
  noContactsForGroup: 'Añade contactos primero: un grupo se forma con tus contactos.',
  members: 'Miembros',
  addMembers: 'Añadir miembros',
  addToGroup: 'Añadir al grupo',
  leaveGroup: 'Salir del grupo',
  removeMember: (name: string) => `Quitar a ${name}`,
  groupInvitations: 'Invitaciones a grupos',
  invitedBy: (name: string, fingerprint: string) => `Invitación de ${name} (${fingerprint})`,
  memberCount: (n: number) => (n === 1 ? '1 miembro' : `${n} miembros`),
  join: 'Unirme',
  decline: 'Rechazar',
  deliveredTo: (n: number, of: number) => `Entregado a ${n} de ${of}`,
  readBy: (n: number, of: number) => `Leído por ${n} de ${of}`,
  typingNames: (names: readonly string[]) => `${names.join(', ')} escribiendo…`,
  youLeft: 'Saliste de este grupo.',
  youWereRemoved: 'Te quitaron de este grupo.',
  roles: { creator: 'creador', admin: 'admin', member: 'miembro' },
  verification: {
    self: 'tú',
    contact: 'contacto',
    'key-changed': 'clave cambiada',
    'not-contact': 'no es contacto',
  },
}

export const LANGS = ['en', 'es'] as const
export type Lang = (typeof LANGS)[number]
/** Each language's own name, for the Language choice. */
export const LANG_NAMES: Record<Lang, string> = { en: 'English', es: 'Español' }

/** The first of the browser's languages Paloma speaks; English otherwise. */
export function pickLang(languages: readonly string[]): Lang {
  for (const l of languages) {
    const base = l.toLowerCase().split('-')[0]
    if (base === 'es' || base === 'en') return base
  }
  return 'en'
}

export function stringsFor(lang: Lang): Strings {
  return lang === 'es' ? es : en
}

export function pickStrings(languages: readonly string[]): { lang: Lang; t: Strings } {
  const lang = pickLang(languages)
  return { lang, t: stringsFor(lang) }
}

/**
 * The system notification for a message from `sender`, as the person's settings allow: none when
 * notifications are off, the sender only unless they chose to show the text.
 */
export function notificationOf(
  t: Strings,
  settings: { notifications: boolean; notificationText: boolean },
  sender: string,
  text: string,
  kind: 'message' | 'request' = 'message',
): { title: string; body: string } | undefined {
  if (!settings.notifications) return undefined
  // A stranger's text is never shown, whatever the setting: it may be anything.
  if (kind === 'request') return { title: `${t.requestFrom} ${sender}`, body: t.requestBody }
  return { title: `${t.newMessageFrom} ${sender}`, body: settings.notificationText ? text : t.newMessage }
}

/**
 * The text for `err` in the person's language: by area and code for an error a person may see
 * (src/app/codes.ts), the generic `errors.unknown` for anything else (a bug, a library's own error).
 */
export function errorText(t: Strings, err: unknown): string {
  return userErrorText(t, userError(err))
}

/** The text of an error already reduced to its area and code (e.g. one kept in a snapshot). */
export function userErrorText(t: Strings, e: UserError | undefined): string {
  if (e === undefined) return t.errors.unknown
  return (t.errors[e.area] as Record<string, string>)[e.code] ?? t.errors.unknown
}

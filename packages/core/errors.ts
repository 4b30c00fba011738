/**
 * The root of every error Paloma throws on purpose, in every layer (core, net, storage, app, relay).
 *
 * Each error carries a stable `code`: a short upper-case identifier that never changes once released.
 * Code decides (`err.code === 'WRONG_PASSPHRASE'`), the UI maps codes to text in the person's language
 * (`src/ui/i18n.ts`), and `message` is for logs and developers: English, never shown as is.
 *
 * Each area declares its codes as an `as const` list and a subclass of {@link PalomaError} typed by
 * them, so `switch (err.code)` is checked by the compiler. `instanceof` tells areas apart; `code` tells
 * failures apart within an area.
 * @module
 */

/** The base of Paloma's typed errors. `C` is the area's union of codes. */
export class PalomaError<C extends string = string> extends Error {
  override name = 'PalomaError'
  /** Stable identifier of the failure (see the area's `…_CODES` list). */
  readonly code: C

  constructor(code: C, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** Whether `err` is one of Paloma's typed errors (any area). */
export function isPalomaError(err: unknown): err is PalomaError {
  return err instanceof PalomaError
}

/** The code of a Paloma error, or `'UNKNOWN'` for anything else (a bug, or a library's own error). */
export function errorCode(err: unknown): string {
  return err instanceof PalomaError ? err.code : 'UNKNOWN'
}

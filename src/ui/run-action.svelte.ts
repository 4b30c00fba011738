/**
 * A button's async action with busy and error state, shared by the forms. A failure is shown as the
 * text `describe` gives for it (the forms pass `(err) => errorText(t, err)`: by code, in the person's
 * language), never as the error's own message.
 */
export function runAction(describe: (err: unknown) => string) {
  let busy = $state(false)
  let error = $state<string | undefined>()
  return {
    get busy() {
      return busy
    },
    get error() {
      return error
    },
    /** Shows `message` (already in the person's language) as the error, without running anything. */
    fail(message: string) {
      error = message
    },
    async run(action: () => Promise<unknown>): Promise<boolean> {
      busy = true
      error = undefined
      try {
        await action()
        return true
      } catch (err) {
        error = describe(err)
        return false
      } finally {
        busy = false
      }
    },
  }
}

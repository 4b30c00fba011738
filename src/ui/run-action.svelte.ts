/** A button's async action with busy and error state, shared by the forms. */
export function runAction() {
  let busy = $state(false)
  let error = $state<string | undefined>()
  return {
    get busy() {
      return busy
    },
    get error() {
      return error
    },
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
        error = (err as Error).message
        return false
      } finally {
        busy = false
      }
    },
  }
}

/**
 * A function that scrolls the element `get()` returns to its end at the next frame. Calls within one frame
 * make one scroll: reading `scrollHeight` forces a layout (profiled at ~3 ms a message during a burst, when
 * it ran once per message).
 */
export function endScroller(get: () => HTMLElement | undefined): () => void {
  let queued = false
  return () => {
    if (queued) return
    queued = true
    requestAnimationFrame(() => {
      queued = false
      const el = get()
      el?.scrollTo({ top: el.scrollHeight })
    })
  }
}

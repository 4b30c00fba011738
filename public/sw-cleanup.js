// Imported by the Workbox service worker (vite.config.ts): removes the cache of Paloma's first,
// hand-written service worker ('paloma-shell-v1') once the new one activates.
self.addEventListener('activate', (event) => {
  event.waitUntil(caches.delete('paloma-shell-v1'))
})

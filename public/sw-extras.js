// Imported by the Workbox service worker (vite.config.ts), for what Workbox's generated worker does not do:
// - on install, keep a copy of config.json (written at deploy time, so not precached with the build):
//   the installed app then opens offline even if no page ever fetched it through this worker;
// - on activate, remove the cache of Paloma's first, hand-written service worker ('paloma-shell-v1').
const CONFIG_CACHE = 'paloma-config' // the NetworkFirst route for config.json uses this cache

self.addEventListener('install', (event) => {
  event.waitUntil(
    fetch('./config.json', { cache: 'no-store' })
      .then((res) => (res.ok ? caches.open(CONFIG_CACHE).then((c) => c.put('./config.json', res)) : undefined))
      .catch(() => undefined),
  )
})

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.delete('paloma-shell-v1'))
})

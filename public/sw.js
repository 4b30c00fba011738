// Paloma's service worker: keeps the app shell available offline, so the installed app (or a reload
// without network) still opens, unlocks and shows history; messages wait in the outbox until the
// network is back. It never caches anything from relays (those are WebSocket/WebRTC, not fetches).
const CACHE = 'paloma-shell-v1'
const SHELL = ['./', './index.html', './config.json', './manifest.webmanifest', './icon.svg']

// The build's file names are hashed: read them from index.html so the whole shell is cached at once.
async function precache() {
  const cache = await caches.open(CACHE)
  await cache.addAll(SHELL)
  const html = await (await cache.match('./index.html')).text()
  const assets = [...html.matchAll(/(?:src|href)="(\.\/assets\/[^"]+)"/g)].map((m) => m[1])
  await cache.addAll(assets)
}

self.addEventListener('install', (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()))
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  )
})

self.addEventListener('fetch', (event) => {
  const request = event.request
  const url = new URL(request.url)
  if (request.method !== 'GET' || url.origin !== self.location.origin) return
  // Hashed build assets never change: cache first. Everything else: network first, cache as fallback.
  if (url.pathname.includes('/assets/')) {
    event.respondWith(
      caches.match(request).then(
        (hit) =>
          hit ??
          fetch(request).then((response) => {
            if (response.ok) {
              const copy = response.clone()
              void caches.open(CACHE).then((cache) => cache.put(request, copy))
            }
            return response
          }),
      ),
    )
    return
  }
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone()
          void caches.open(CACHE).then((cache) => cache.put(request, copy))
        }
        return response
      })
      .catch(() =>
        caches
          .match(request, { ignoreSearch: true })
          .then((hit) => hit ?? (request.mode === 'navigate' ? caches.match('./index.html') : undefined))
          .then((hit) => hit ?? Response.error()),
      ),
  )
})

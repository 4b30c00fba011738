import { defineConfig, type Plugin } from 'vite'
import { svelte } from '@sveltejs/vite-plugin-svelte'
import { VitePWA } from 'vite-plugin-pwa'
import { contentSecurityPolicy } from './scripts/static-server.ts'

/**
 * The built index.html carries the Content Security Policy as a meta tag, so a static host that sends no
 * header still gets it. Relays are only known at deploy time (config.json), so this one allows any
 * ws:/wss: host; the static server's header (scripts/static-server.ts, docs/operations.md) narrows
 * connect-src to the configured relays and adds what a meta tag cannot (frame-ancestors).
 */
function metaCsp(): Plugin {
  return {
    name: 'paloma-meta-csp',
    apply: 'build',
    transformIndexHtml: (html) =>
      html.replace(
        '<meta charset="UTF-8" />',
        `<meta charset="UTF-8" />\n    <meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy({ meta: true })}" />\n    <meta name="referrer" content="no-referrer" />`,
      ),
  }
}

export default defineConfig({
  // Relative URLs: the static site works from any path (e.g. https://example.org/paloma/).
  base: './',
  plugins: [
    svelte(),
    metaCsp(),
    // The offline shell: Workbox precaches the hashed build (old precaches are cleaned on activation) and
    // a new version waits for the person's "Reload" (registerType 'prompt', src/main.svelte.ts).
    VitePWA({
      registerType: 'prompt',
      injectRegister: false,
      manifest: false, // public/manifest.webmanifest
      workbox: {
        globPatterns: ['**/*.{js,css,html,svg,png,webmanifest}'],
        cleanupOutdatedCaches: true,
        // The first visit's page is taken over at once (so an update later reloads it when activated);
        // a new version still waits for the person's Reload (no skipWaiting).
        clientsClaim: true,
        navigateFallback: 'index.html',
        // config.json is written at deploy time: always from the network, the cached copy when offline.
        runtimeCaching: [
          {
            urlPattern: ({ url }) => url.pathname.endsWith('/config.json'),
            handler: 'NetworkFirst',
            options: { cacheName: 'paloma-config', networkTimeoutSeconds: 5 },
          },
        ],
        // Keeps config.json for offline starts; removes the hand-written worker's cache (public/sw-extras.js).
        importScripts: ['sw-extras.js'],
        maximumFileSizeToCacheInBytes: 4 * 1024 * 1024,
      },
    }),
  ],
  build: { target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 1024 },
  server: { port: 5173 },
})

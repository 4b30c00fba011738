import { defineConfig } from 'vite'
import { svelte } from '@sveltejs/vite-plugin-svelte'

export default defineConfig({
  // Relative URLs: the static site works from any path (e.g. https://example.org/paloma/).
  base: './',
  plugins: [svelte()],
  build: { target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 1024 },
  server: { port: 5173 },
})

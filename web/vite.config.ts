/** `vite build web` → web/dist, served by the coordinator at `/`. `vite web` serves it with the API proxied. */
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Source maps only cost build time here; the dashboard's sources are in the repository.
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    // `npx vite web` during development, next to `conveyor serve` on its default port.
    proxy: { '/api': 'http://127.0.0.1:7878' },
  },
});

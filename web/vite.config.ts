// Builds the console into dist/ (embedded by gwanjed; see web.go). The
// output is deterministic: content-hashed names, no build time, no source
// maps, so scripts/buildconsole --check can compare it with the commit.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact", legalComments: "none" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    reportCompressedSize: false,
    rollupOptions: { output: { manualChunks: undefined } },
  },
  resolve: {
    alias: { react: "preact/compat", "react-dom": "preact/compat" },
  },
});

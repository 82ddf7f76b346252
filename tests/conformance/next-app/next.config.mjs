import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

/** @type {import('next').NextConfig} */
const nextConfig = {
  // This folder is the whole application (the suite around it has its own lockfile).
  outputFileTracingRoot: root,
  turbopack: { root },
};

export default nextConfig;

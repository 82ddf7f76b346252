import { clerkMiddleware, createRouteMatcher } from '@clerk/nextjs/server';

const isProtected = createRouteMatcher(['/dashboard(.*)']);

export default clerkMiddleware(
  async (auth, req) => {
    if (isProtected(req)) await auth.protect();
  },
  {
    // Clerk's Frontend API under this application's own /__clerk, relayed by the middleware
    // to CLERK_FAPI_URL, when the proxy URL is that path (on with code only: no variable
    // turns it on).
    frontendApiProxy: { enabled: process.env.NEXT_PUBLIC_CLERK_PROXY_URL === '/__clerk' },
  },
);

export const config = {
  matcher: [
    // Every page, but not Next.js internals nor static files.
    '/((?!_next|[^?]*\\.(?:html?|css|js(?!on)|jpe?g|webp|png|gif|svg|ttf|woff2?|ico|csv|docx?|xlsx?|zip|webmanifest)).*)',
    '/(api|trpc)(.*)',
    // The Frontend API proxy, scripts included.
    '/__clerk/(.*)',
  ],
};

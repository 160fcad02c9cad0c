import { buildWebAssets, WEB_OUT_DIR } from './web-assets';

/** `npm run build:web`: bundles the status page and GraphiQL into dist/web. */
buildWebAssets()
  .then(() => console.log(`Wrote ${WEB_OUT_DIR}`))
  .catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });

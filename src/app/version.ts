import packageJson from '../../package.json';

/** The service's version, from package.json; written into `.immuta.export.log` and /healthz. */
export const SERVICE_VERSION: string = packageJson.version;

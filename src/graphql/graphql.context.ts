import type { Principal } from '../api-key/api-key.service';

/** What every resolver receives: who is calling (authenticated before GraphQL runs), and request headers that change what a mutation does. */
export interface GraphQLContext {
  principal: Principal;
  /**
   * The `Idempotency-Key` HTTP header as sent, unchecked; undefined when absent. Only the create
   * mutations read it (ExportConfigurationService validates it and makes a retry with the same
   * key return the first configuration instead of a second one). It is a header, not an argument,
   * so the seed's documents work unchanged and a client can add it to a request it retries
   * without rewriting the document.
   */
  idempotencyKey?: string;
}

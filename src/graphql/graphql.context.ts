import type { Principal } from '../api-key/api-key.service';

/** What every resolver receives: who is calling (authenticated before GraphQL runs). */
export interface GraphQLContext {
  principal: Principal;
}

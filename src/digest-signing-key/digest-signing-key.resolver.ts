import { Mutation, Query, Resolver } from 'type-graphql';
import { toDigestPublicKey } from './digest-signing-key.mapper';
import type { DigestSigningKeyService } from './digest-signing-key.service';
import { DigestPublicKey } from './digest-signing-key.type';

/** Thin: the public keys that verify digests, and their rotation. */
@Resolver(() => DigestPublicKey)
export class DigestSigningKeyResolver {
  constructor(private readonly keys: DigestSigningKeyService) {}

  @Query(() => [DigestPublicKey], {
    description:
      'Every key that has signed or signs digests, oldest first, current one last (retiredAt null). Save the result for `audit-export validate --public-keys`. Empty until the first digest is written.',
  })
  async getDigestPublicKeys(): Promise<DigestPublicKey[]> {
    return (await this.keys.publicKeys()).map(toDigestPublicKey);
  }

  @Mutation(() => DigestPublicKey, {
    description:
      'Replaces the digest signing key with a new one and returns it: digests first written from now on are signed with it and name its fingerprint; the chain continues. The old key is kept (retiredAt set): digests it signed still verify with its public key.',
  })
  async rotateDigestSigningKey(): Promise<DigestPublicKey> {
    return toDigestPublicKey((await this.keys.rotate()).current);
  }
}

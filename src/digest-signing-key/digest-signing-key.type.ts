import { DateTimeResolver } from 'graphql-scalars';
import { Field, ObjectType } from 'type-graphql';

/**
 * The public half of a digest signing key, as `audit-export validate --public-keys` reads it.
 * Built only by digest-signing-key.mapper.ts: there is no field for the private key.
 */
@ObjectType('DigestPublicKey', {
  description:
    'A public key that verifies digest signatures (docs/integrity-digests.md). Digests name their key by fingerprint; keep every key you trust, retired ones included, to verify older digests.',
})
export class DigestPublicKey {
  @Field(() => String, { description: 'SHA-256 (hex) of the public key in SPKI DER form: the signingKeyFingerprint of the digests it signed.' })
  fingerprint!: string;

  @Field(() => String, { description: 'The signature algorithm: Ed25519.' })
  algorithm!: string;

  @Field(() => String, { description: 'The public key, PEM-encoded SPKI ("-----BEGIN PUBLIC KEY-----").' })
  publicKeyPem!: string;

  @Field(() => DateTimeResolver, { description: 'When the key was created (on the first digest, or by a rotation).' })
  createdAt!: Date;

  @Field(() => DateTimeResolver, { nullable: true, description: 'When a rotation replaced it; null for the key that signs new digests.' })
  retiredAt!: Date | null;
}

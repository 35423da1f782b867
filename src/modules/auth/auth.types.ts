// GraphQL payload types of the sign-in flows.
import { Field, ObjectType } from 'type-graphql';
import { SessionStage, TwoFactorActivationMethod } from '../../common/enums';

@ObjectType({ simpleResolvers: true })
export class LoginPayload {
  @Field(() => String, { description: 'Bearer token for the Authorization header. Its rights depend on stage.' })
  token!: string;

  @Field(() => SessionStage)
  stage!: SessionStage;

  @Field(() => TwoFactorActivationMethod, {
    nullable: true,
    description: 'Set when stage is TWO_FACTOR_SETUP_REQUIRED: how this account activates 2FA.',
  })
  twoFactorActivation!: TwoFactorActivationMethod | null;
}

@ObjectType({ simpleResolvers: true })
export class TwoFactorActivation {
  @Field(() => TwoFactorActivationMethod)
  method!: TwoFactorActivationMethod;

  @Field(() => String, { nullable: true, description: 'Set for RESELLER_PORTAL: where the client sends the user.' })
  redirectUrl!: string | null;
}

@ObjectType({ simpleResolvers: true })
export class TwoFactorSetup {
  @Field(() => String, { description: 'Single-use token for activateTwoFactor.' })
  setupToken!: string;

  @Field(() => String, { description: 'Base32 TOTP secret (RFC 6238: SHA-1, 6 digits, 30 s).' })
  secret!: string;

  @Field(() => String, { description: 'otpauth://totp/... URI carrying the same secret.' })
  otpauthUrl!: string;

  @Field(() => String, { description: 'data:image/png;base64,... QR code of otpauthUrl.' })
  qrCodeDataUrl!: string;

  @Field(() => Boolean, { description: '2FA was already set up: the existing secret is displayed again.' })
  alreadyEnrolled!: boolean;

  @Field(() => Boolean, {
    description:
      '2FA was already set up and TOTP_SECRET_REDISPLAY=never: this is a new secret; the enrolled one keeps working until this one is activated.',
  })
  replacesEnrolled!: boolean;
}

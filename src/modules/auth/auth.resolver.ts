// Thin resolvers for the sign-in and 2FA flows; the rules live in the sign-in, enrolment and password-reset
// services, the gate in the shield map.
import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import type { Context } from '../../context';
import { requireAuthenticated, requirePrincipal } from '../../graphql/principal';
import { LoginPayload, TwoFactorActivation, TwoFactorSetup } from './auth.types';

@Resolver()
export class AuthResolver {
  @Mutation(() => LoginPayload, {
    description:
      'Public. Wrong e-mail and wrong password fail alike with UNAUTHENTICATED. With a valid totpCode and 2FA enabled the session is AUTHENTICATED at once.',
  })
  login(
    @Arg('email', () => String) email: string,
    @Arg('password', () => String) password: string,
    @Arg('totpCode', () => String, { nullable: true }) totpCode: string | null,
    @Ctx() ctx: Context,
  ): Promise<LoginPayload> {
    return ctx.services.signIn.login(ctx.em, email, password, totpCode ?? null, ctx);
  }

  @Mutation(() => Boolean, {
    description: 'Public. Always true, whether or not the address exists; sends the reset e-mail only if it does.',
  })
  requestPasswordReset(@Arg('email', () => String) email: string, @Ctx() ctx: Context): boolean {
    ctx.services.passwordReset.requestPasswordReset(ctx.em, email, ctx);
    return true;
  }

  @Mutation(() => TwoFactorSetup, {
    description: 'Public. Consumes a reset or invitation token from an e-mail link, sets the password, returns the TOTP setup.',
  })
  resetPassword(
    @Arg('token', () => String) token: string,
    @Arg('newPassword', () => String) newPassword: string,
    @Ctx() ctx: Context,
  ): Promise<TwoFactorSetup> {
    return ctx.services.passwordReset.resetPassword(ctx.em, token, newPassword, ctx);
  }

  @Mutation(() => TwoFactorSetup, {
    description:
      'Called by the reseller portal with its RESELLER_PORTAL API token (anyone else: FORBIDDEN, the token stays unused). Consumes a reseller-portal activation token (from a RESELLER_PORTAL redirectUrl), returns the TOTP setup.',
  })
  beginTwoFactorSetup(@Arg('token', () => String) token: string, @Ctx() ctx: Context): Promise<TwoFactorSetup> {
    return ctx.services.enrolment.beginTwoFactorSetup(ctx.em, token, ctx.principal);
  }

  @Mutation(() => Boolean, { description: 'Public. Confirms the setup with a current TOTP code; 2FA is then enabled.' })
  activateTwoFactor(
    @Arg('setupToken', () => String) setupToken: string,
    @Arg('code', () => String) code: string,
    @Ctx() ctx: Context,
  ): Promise<boolean> {
    return ctx.services.enrolment.activateTwoFactor(ctx.em, setupToken, code, ctx);
  }

  @Mutation(() => LoginPayload, {
    description: 'Session stage TOTP_REQUIRED. Returns a NEW token with stage AUTHENTICATED; the old token stops working.',
  })
  verifyTotp(@Arg('code', () => String) code: string, @Ctx() ctx: Context): Promise<LoginPayload> {
    return ctx.services.signIn.verifyTotp(ctx.em, requirePrincipal(ctx), code, ctx);
  }

  @Mutation(() => LoginPayload, {
    description: 'TOTP_REQUIRED session: a recovery code instead of a TOTP code; returns the AUTHENTICATED session like verifyTotp.',
  })
  verifyRecoveryCode(@Arg('code', () => String) code: string, @Ctx() ctx: Context): Promise<LoginPayload> {
    return ctx.services.signIn.verifyRecoveryCode(ctx.em, requirePrincipal(ctx), code, ctx);
  }

  @Mutation(() => [String], {
    description: 'AUTHENTICATED session and a fresh TOTP code: 10 new single-use codes, shown once; older ones stop working.',
  })
  generateRecoveryCodes(@Arg('totpCode', () => String) totpCode: string, @Ctx() ctx: Context): Promise<string[]> {
    return ctx.services.recoveryCodes.generate(ctx.em, requireAuthenticated(ctx), totpCode, ctx);
  }

  @Mutation(() => TwoFactorActivation, { description: "Session stage TWO_FACTOR_SETUP_REQUIRED: the 'Enable 2FA' button." })
  requestTwoFactorActivation(@Ctx() ctx: Context): Promise<TwoFactorActivation> {
    return ctx.services.enrolment.requestTwoFactorActivation(ctx.em, requirePrincipal(ctx));
  }

  @Mutation(() => Boolean, {
    description:
      'AUTHENTICATED session (not an API token): needs the current password and a fresh TOTP code; ends the other sessions (API tokens stay) and e-mails a notice.',
  })
  changePassword(
    @Arg('currentPassword', () => String) currentPassword: string,
    @Arg('newPassword', () => String) newPassword: string,
    @Arg('totpCode', () => String) totpCode: string,
    @Ctx() ctx: Context,
  ): Promise<boolean> {
    return ctx.services.passwordChange.changePassword(ctx.em, requirePrincipal(ctx), currentPassword, newPassword, totpCode, ctx);
  }

  @Mutation(() => Boolean, { description: 'Any session: ends it.' })
  logout(@Ctx() ctx: Context): Promise<boolean> {
    return ctx.services.signIn.logout(ctx.em, requirePrincipal(ctx));
  }
}

// The one permission map (graphql-shield), deny by default. Root fields say who may call them; object
// types are open because every object reaches a client only through a root field and a service that
// filters rows in the database. Rules are small named predicates with strict boolean results.
import { allow, and, deny, rule, shield } from 'graphql-shield';
import type { GraphQLResolveInfo, GraphQLSchema } from 'graphql';
import type { IMiddlewareTypeMap } from 'graphql-middleware';
import { Role, SessionStage } from '../common/enums';
import type { Context } from '../context';
import { bearerChallenge, forbidden, twoFactorRequired, unauthenticated } from '../errors';
import { isAuthenticated as isAuthenticatedPrincipal } from '../modules/auth/principal';

const isSignedIn = rule({ cache: 'contextual' })((_p, _a, ctx: Context) => ctx.principal !== null);
// A RESELLER_PORTAL API token is verified but acts for nobody: it is not authenticated for anything but
// beginTwoFactorSetup (public; the service checks the token's purpose).
const isAuthenticated = rule({ cache: 'contextual' })((_p, _a, ctx: Context) => isAuthenticatedPrincipal(ctx.principal));
const isSession = rule({ cache: 'contextual' })((_p, _a, ctx: Context) => ctx.principal?.kind === 'session');
const awaitsTotp = rule({ cache: 'contextual' })((_p, _a, ctx: Context) => ctx.principal?.stage === SessionStage.TOTP_REQUIRED);
const awaitsSetup = rule({ cache: 'contextual' })(
  (_p, _a, ctx: Context) => ctx.principal?.stage === SessionStage.TWO_FACTOR_SETUP_REQUIRED,
);
const isAdmin = rule({ cache: 'contextual' })((_p, _a, ctx: Context) => ctx.principal?.role === Role.ADMIN);
/** Vendor staff and reseller users: the roles that manage customers, licenses and users. */
const isStaff = rule({ cache: 'contextual' })(
  (_p, _a, ctx: Context) => ctx.principal?.role === Role.ADMIN || ctx.principal?.role === Role.RESELLER,
);

const authenticated = isAuthenticated;
const staff = and(isAuthenticated, isStaff);
const admin = and(isAuthenticated, isAdmin);

export const permissionMap = {
  Query: {
    me: authenticated,
    node: authenticated,
    license: authenticated,
    licenses: authenticated,
    customer: authenticated,
    customers: authenticated,
    resellers: staff,
    users: authenticated,
    auditEvents: staff,
    apiTokens: authenticated,
    webhookEndpoints: staff,
    webhookDeliveries: staff,
  },
  Mutation: {
    login: allow,
    requestPasswordReset: allow,
    resetPassword: allow,
    beginTwoFactorSetup: allow,
    activateTwoFactor: allow,
    verifyTotp: and(isSession, awaitsTotp),
    verifyRecoveryCode: and(isSession, awaitsTotp),
    // Like changePassword: a password + TOTP session, never an API token.
    generateRecoveryCodes: and(isAuthenticated, isSession),
    requestTwoFactorActivation: and(isSession, awaitsSetup),
    logout: and(isSignedIn, isSession),
    // A password + TOTP session, not an API token: a leaked token must not take over the account.
    changePassword: and(isAuthenticated, isSession),
    createReseller: admin,
    createCustomer: staff,
    updateCustomer: staff,
    createLicense: staff,
    createLicenses: staff,
    updateLicense: staff,
    revokeLicense: staff,
    suspendLicense: staff,
    reinstateLicense: staff,
    moveLicense: staff,
    transferCustomer: admin,
    createUser: staff,
    resetUserTwoFactor: staff,
    deactivateUser: staff,
    reactivateUser: staff,
    // Everyone for their own name and locale; the service decides who may change whom.
    updateUser: authenticated,
    suspendReseller: admin,
    reinstateReseller: admin,
    // An API token cannot mint further tokens: that needs a password + TOTP session.
    createApiToken: and(isAuthenticated, isSession),
    revokeApiToken: authenticated,
    createWebhookEndpoint: staff,
    deleteWebhookEndpoint: staff,
    redeliverWebhook: staff,
  },
  // Nested fields with a rule of their own (everything else on object types is reached only through
  // a root field above and filtered by the services' visibility conditions).
  Reseller: { customers: staff },
};

/** A graphql-shield rule (rule(), and(), allow, ...), as opposed to a map of field names to rules. */
function isShieldRule(value: unknown): boolean {
  return typeof (value as { resolve?: unknown } | null)?.resolve === 'function';
}

/** What a denied field answers: who is asking decides between the three codes of FLOWS.md section 2. */
export function deniedError(_thrown: unknown, _parent: unknown, _args: unknown, ctx: Context, _info: GraphQLResolveInfo) {
  if (ctx.credentialError) return ctx.credentialError;
  if (!ctx.principal) return bearerChallenge(unauthenticated());
  if (ctx.principal.stage !== SessionStage.AUTHENTICATED) return twoFactorRequired();
  return forbidden();
}

/**
 * The shield middleware for the schema. Every root field is covered (unlisted ones are denied by the
 * fallback rule); below the root only fields with a rule of their own are wrapped. Object types are
 * reached only through root fields, and wrapping each of their scalars in an async rule would cost a
 * promise per field per row for no decision.
 */
export function permissions(schema: GraphQLSchema, map: Record<string, unknown> = permissionMap): IMiddlewareTypeMap {
  const generated = shield(map as typeof permissionMap, {
    fallbackRule: deny,
    fallbackError: deniedError as never,
    allowExternalErrors: true,
    debug: false,
  }).generate(schema) as Record<string, Record<string, unknown>>;
  const kept: Record<string, Record<string, unknown>> = {};
  for (const [type, fields] of Object.entries(generated)) {
    if (type === 'Query' || type === 'Mutation') {
      kept[type] = fields;
      continue;
    }
    const rules = map[type];
    if (!rules) continue;
    // A type's rule is one rule for all its fields, or a rule per field with '*' for the rest.
    const ruleFor = (field: string): unknown =>
      isShieldRule(rules) ? rules : ((rules as Record<string, unknown>)[field] ?? (rules as Record<string, unknown>)['*']);
    const guarded = Object.fromEntries(
      Object.entries(fields).filter(([field]) => {
        const fieldRule = ruleFor(field);
        return fieldRule !== undefined && fieldRule !== allow;
      }),
    );
    if (Object.keys(guarded).length) kept[type] = guarded;
  }
  return kept as IMiddlewareTypeMap;
}

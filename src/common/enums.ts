// Enums of the public contract, registered once for type-graphql.
import { registerEnumType } from 'type-graphql';

export enum Role {
  ADMIN = 'ADMIN',
  RESELLER = 'RESELLER',
  CUSTOMER = 'CUSTOMER',
}

export enum LicenseKind {
  MDM = 'MDM',
  MOBILE_SECURITY = 'MOBILE_SECURITY',
}

export enum LicenseStatus {
  PENDING = 'PENDING',
  ACTIVE = 'ACTIVE',
  EXPIRED = 'EXPIRED',
  REVOKED = 'REVOKED',
  SUSPENDED = 'SUSPENDED',
}

export enum SessionStage {
  TOTP_REQUIRED = 'TOTP_REQUIRED',
  TWO_FACTOR_SETUP_REQUIRED = 'TWO_FACTOR_SETUP_REQUIRED',
  AUTHENTICATED = 'AUTHENTICATED',
}

export enum TwoFactorActivationMethod {
  EMAIL = 'EMAIL',
  RESELLER_PORTAL = 'RESELLER_PORTAL',
}

/** Who an API token works for (FLOWS.md section 8). */
export enum ApiTokenPurpose {
  OWNER = 'OWNER',
  RESELLER_PORTAL = 'RESELLER_PORTAL',
}

registerEnumType(Role, {
  name: 'Role',
  valuesConfig: {
    ADMIN: { description: 'Vendor staff (the sales department): sees and manages everything.' },
    RESELLER: { description: "A reseller's user: sees and manages the reseller's own customers and licenses." },
    CUSTOMER: { description: "A customer's user: read-only view of the own customer and its licenses." },
  },
});
registerEnumType(LicenseKind, {
  name: 'LicenseKind',
  valuesConfig: {
    MDM: { description: 'Mobile device management: complete administration of devices.' },
    MOBILE_SECURITY: { description: 'MDM plus protection in open networks through the cyber defense cloud.' },
  },
});
registerEnumType(LicenseStatus, {
  name: 'LicenseStatus',
  valuesConfig: {
    PENDING: { description: 'validFrom is in the future.' },
    ACTIVE: { description: 'Valid now: validFrom <= now < validUntil, neither revoked nor suspended.' },
    EXPIRED: { description: 'now >= validUntil.' },
    REVOKED: { description: 'Revoked by a reseller or an admin; final.' },
    SUSPENDED: {
      description: 'Not revoked, but the license or its reseller is suspended; ACTIVE, PENDING or EXPIRED again once reinstated.',
    },
  },
});
registerEnumType(SessionStage, {
  name: 'SessionStage',
  valuesConfig: {
    TOTP_REQUIRED: { description: 'Password accepted, 2FA is enabled: only verifyTotp and logout are allowed.' },
    TWO_FACTOR_SETUP_REQUIRED: {
      description: 'Password accepted, 2FA was never activated: login is blocked; only requestTwoFactorActivation and logout are allowed.',
    },
    AUTHENTICATED: { description: 'Password and TOTP verified: the whole role-scoped schema is open.' },
  },
});
registerEnumType(TwoFactorActivationMethod, {
  name: 'TwoFactorActivationMethod',
  valuesConfig: {
    EMAIL: { description: 'Portal-only account: an e-mail with a password-reset link was sent; the link leads to TOTP setup.' },
    RESELLER_PORTAL: { description: 'Account linked to the reseller portal: the client must open redirectUrl there.' },
  },
});
registerEnumType(ApiTokenPurpose, {
  name: 'ApiTokenPurpose',
  description: 'Who an API token works for.',
  valuesConfig: {
    OWNER: { description: 'Acts as its owner (the default).' },
    RESELLER_PORTAL: {
      description: "The reseller portal's server: may only redeem reseller-portal activation tokens (beginTwoFactorSetup). Admins only.",
    },
  },
});

// The parent object of a field resolver: an entity, or a plain row of a read-only page (see
// LicenseService.list). A mapped type on purpose: its decorator metadata is Object, so type-graphql passes the
// parent through as it is instead of copying a plain row into a new entity instance.
export type Parent<T> = Readonly<T>;

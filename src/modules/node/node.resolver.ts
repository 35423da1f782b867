// node(id): the type comes from the ID's prefix; each type is looked up through its own visibility rule,
// so an invisible object is null exactly like an unknown ID.
import { Arg, Ctx, ID, Query, Resolver } from 'type-graphql';
import { typeOfId } from '../../common/ids';
import { Node } from '../../common/node';
import type { Context } from '../../context';
import { requireAuthenticated } from '../../graphql/principal';
import { findVisibleAuditEvent } from '../audit/audit.service';

@Resolver()
export class NodeResolver {
  @Query(() => Node, { nullable: true })
  async node(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Node | null> {
    const p = requireAuthenticated(ctx);
    const { services: s, em } = ctx;
    switch (typeOfId(id)) {
      case 'Reseller':
        return s.resellers.findVisible(em, p, id);
      case 'Customer':
        return s.customers.findVisible(em, p, id);
      case 'License':
        return s.licenses.findVisible(em, p, id);
      case 'User':
        return s.users.findVisible(em, p, id);
      case 'AuditEvent':
        return findVisibleAuditEvent(em, p, id);
      case 'ApiToken':
        return s.apiTokens.findVisible(em, p, id);
      case 'WebhookEndpoint':
        return s.webhooks.findVisibleEndpoint(em, p, id);
      case 'WebhookDelivery':
        return s.webhooks.findVisibleDelivery(em, p, id);
      default:
        return null;
    }
  }
}

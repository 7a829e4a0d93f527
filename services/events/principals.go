package events

// Who may write where: the kit's Kafka principals and what each may do,
// declared once (DESIGN.md, "Who may write where"). With SECURITY=sasl_ssl
// the harness creates one SCRAM user per principal and turns each grant into
// an ACL; the broker allows nothing else (allow.everyone.if.no.acl.found=false).
// Strimzi's KafkaUser resources in deploy/ are checked against the same list.

// The kit's principals: one per service, and the kit itself (the harness and
// the kit CLI), which is a super user.
const (
	PrincipalOrdersAPI        = "orders-api"
	PrincipalStockService     = "stock-service"
	PrincipalOrdersProcessor  = "orders-processor"
	PrincipalNotificationsAPI = "notifications-api"
	PrincipalKit              = "kit"
)

// Resource is the kind of thing an ACL names.
type Resource string

const (
	ResourceTopic Resource = "topic"
	ResourceGroup Resource = "group"
)

// Operation is what an ACL allows on a resource, named as Kafka names it.
// Kafka lets Read and Write imply Describe on the same resource.
type Operation string

const (
	OpRead     Operation = "Read"
	OpWrite    Operation = "Write"
	OpDescribe Operation = "Describe"
)

// Grant allows one operation on one resource, named literally (no prefixes,
// no wildcards: least privilege is easiest to read when every name is there).
type Grant struct {
	Resource  Resource
	Name      string
	Operation Operation
}

// Principal is a Kafka user (User:<Name>) and what it may do. A super user
// may do everything and has no grants.
type Principal struct {
	Name   string
	Super  bool
	Grants []Grant
}

// Principals are every principal the kit runs with, in the order of the
// table in DESIGN.md.
var Principals = []Principal{
	{Name: PrincipalOrdersAPI, Grants: []Grant{
		write(TopicOrdersCreated),
	}},
	{Name: PrincipalStockService, Grants: []Grant{
		read(TopicOrdersCreated), read(TopicOrdersStatus), readGroup(GroupStockService),
		write(TopicStockReservations), write(TopicInventoryUpdated),
		// Its dead letters: the records of the topics it consumes.
		write(DLQ(TopicOrdersCreated)), write(DLQ(TopicOrdersStatus)),
	}},
	{Name: PrincipalOrdersProcessor, Grants: []Grant{
		read(TopicStockReservations), readGroup(GroupOrdersProcessor),
		write(TopicOrdersStatus),
		write(DLQ(TopicStockReservations)),
	}},
	{Name: PrincipalNotificationsAPI, Grants: notificationsGrants()},
	{Name: PrincipalKit, Super: true},
}

// notificationsGrants: every kit topic and its dead letters (the page's
// event flow), read without a group, and a description of the groups (the
// Consumers panel): Describe on a group is what lists and describes it and
// fetches its committed offsets.
func notificationsGrants() []Grant {
	var gs []Grant
	for _, t := range Topics {
		gs = append(gs, read(t), read(DLQ(t)))
	}
	return append(gs,
		Grant{ResourceGroup, GroupStockService, OpDescribe},
		Grant{ResourceGroup, GroupOrdersProcessor, OpDescribe})
}

func read(topic string) Grant      { return Grant{ResourceTopic, topic, OpRead} }
func write(topic string) Grant     { return Grant{ResourceTopic, topic, OpWrite} }
func readGroup(group string) Grant { return Grant{ResourceGroup, group, OpRead} }

// PrincipalNamed returns the kit's principal called name.
func PrincipalNamed(name string) (Principal, bool) {
	for _, p := range Principals {
		if p.Name == name {
			return p, true
		}
	}
	return Principal{}, false
}

// May reports whether p may do op on a resource, as Kafka's AclAuthorizer
// decides it: a super user may do anything; otherwise a grant must name the
// resource, and Read or Write imply Describe.
func (p Principal) May(op Operation, r Resource, name string) bool {
	if p.Super {
		return true
	}
	for _, g := range p.Grants {
		if g.Resource != r || g.Name != name {
			continue
		}
		if g.Operation == op || op == OpDescribe && (g.Operation == OpRead || g.Operation == OpWrite) {
			return true
		}
	}
	return false
}

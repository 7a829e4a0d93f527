package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkakit/kit/services/platform/stream"
)

func runACLs(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("acls", "acls [principal...] [flags]",
		`Lists the cluster's ACLs (or those of the principals named, e.g. stock-service
or User:outsider): who may do what on which topic or group. On a stack started
with -security sasl_ssl these are services/events' Principals as the harness
applied them; describing them takes the kit's own rights (a super user), which
the kit CLI signs in with by itself. A principal named with no ACL may do
nothing: the broker allows nothing without one.
`, getenv, stderr)
	names, err := f.positional(args)
	if err != nil {
		return err
	}
	brokers, err := brokerList(*f.brokers)
	if err != nil {
		return err
	}
	cl, err := connect(brokers, f.getenv)
	if err != nil {
		return err
	}
	t := &kafka.Transport{ClientID: "kafkakit-acls", DialTimeout: 3 * time.Second}
	stream.SecureTransport(t, cl.dialer)
	defer t.CloseIdleConnections()
	kc := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: t}
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	res, err := kc.DescribeACLs(ctx, &kafka.DescribeACLsRequest{Filter: kafka.ACLFilter{
		ResourceTypeFilter: kafka.ResourceTypeAny, ResourcePatternTypeFilter: kafka.PatternTypeAny,
		Operation: kafka.ACLOperationTypeAny, PermissionType: kafka.ACLPermissionTypeAny,
	}})
	if err != nil {
		return fmt.Errorf("describe ACLs at %s: %w\n(is the kit up? start it with `make up SECURITY=sasl_ssl`, or point -brokers / KAFKA_BROKERS at your cluster)",
			strings.Join(brokers, ","), err)
	}
	if res.Error != nil {
		return aclsRefused(res.Error)
	}
	rows := aclRows(res.Resources, names)
	printACLs(stdout, rows)
	for _, n := range names {
		p := principalOf(n)
		if !slices.ContainsFunc(rows, func(r aclRow) bool { return r.principal == p }) {
			fmt.Fprintf(stdout, "%s: no ACL — the broker allows it nothing\n", p)
		}
	}
	return nil
}

// aclsRefused says what a broker's refusal to describe its ACLs means.
func aclsRefused(err error) error {
	switch {
	case errors.Is(err, kafka.SecurityDisabled):
		return fmt.Errorf("describe ACLs: %w\n(this broker has no authorizer: every client may do everything; start the stack with -security sasl_ssl)", err)
	case errors.Is(err, kafka.ClusterAuthorizationFailed):
		return fmt.Errorf("describe ACLs: %w\n(only a principal with Describe on the cluster may list them: sign in as the kit)", err)
	}
	return fmt.Errorf("describe ACLs: %w", err)
}

// aclRow is one ACL as kit acls prints it.
type aclRow struct {
	principal, permission, operation, resource, name, pattern, host string
}

// principalOf is "User:name" for a bare name.
func principalOf(name string) string {
	if strings.Contains(name, ":") {
		return name
	}
	return "User:" + name
}

// aclRows flattens the broker's answer into rows sorted by principal,
// resource and operation, keeping only the principals named (all when none).
func aclRows(resources []kafka.ACLResource, names []string) []aclRow {
	var want []string
	for _, n := range names {
		want = append(want, principalOf(n))
	}
	var rows []aclRow
	for _, r := range resources {
		for _, a := range r.ACLs {
			if len(want) > 0 && !slices.Contains(want, a.Principal) {
				continue
			}
			rows = append(rows, aclRow{principal: a.Principal, permission: a.PermissionType.String(),
				operation: a.Operation.String(), resource: r.ResourceType.String(), name: r.ResourceName,
				pattern: r.PatternType.String(), host: a.Host})
		}
	}
	slices.SortFunc(rows, func(a, b aclRow) int {
		return cmp.Or(cmp.Compare(a.principal, b.principal), cmp.Compare(a.resource, b.resource),
			cmp.Compare(a.name, b.name), cmp.Compare(a.operation, b.operation))
	})
	return rows
}

func printACLs(w io.Writer, rows []aclRow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tPERMISSION\tOPERATION\tRESOURCE\tNAME\tPATTERN\tHOST")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.principal, r.permission, r.operation, r.resource, r.name, r.pattern, r.host)
	}
	tw.Flush()
}

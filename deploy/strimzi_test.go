package deploy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Strimzi publishes no Go API module; these structs hold the fields of its
// kafka.strimzi.io/v1 CRDs (Strimzi 1.2.0, packaging/install/cluster-operator
// 040-Crd-kafka.yaml, 043-Crd-kafkatopic.yaml, 045-Crd-kafkanodepool.yaml)
// that the kit's manifests use. Decoding strictly into them refuses any other
// field, so a misspelt or moved field fails here instead of being pruned
// silently by the API server. A field the manifests start using is added
// here from the CRD, with its constraints in validate.

// strimziAPIVersion is the API Strimzi 1.0 and later serve (v1beta2 is gone).
const strimziAPIVersion = "kafka.strimzi.io/v1"

// strimziClusterLabel ties a KafkaNodePool or KafkaTopic to its Kafka.
const strimziClusterLabel = "strimzi.io/cluster"

// strimziKafkaVersions are the Kafka versions Strimzi 1.2.0 supports
// (kafka-versions.yaml, supported: true).
var strimziKafkaVersions = []string{"4.2.0", "4.2.1", "4.3.0", "4.3.1"}

// strimziForbiddenConfig are the prefixes of spec.kafka.config that Strimzi
// manages itself and refuses (KafkaClusterSpec.FORBIDDEN_PREFIXES), and the
// exceptions it allows (FORBIDDEN_PREFIX_EXCEPTIONS), as of 1.2.0.
var (
	strimziForbiddenConfig = []string{"listeners", "advertised.", "broker.", "listener.", "host.name", "port",
		"inter.broker.listener.name", "sasl.", "ssl.", "security.", "password.", "log.dir",
		"zookeeper.connect", "zookeeper.set.acl", "zookeeper.ssl", "zookeeper.clientCnxnSocket", "authorizer.", "super.user",
		"cruise.control.metrics.topic", "cruise.control.metrics.reporter.bootstrap.servers",
		"node.id", "process.roles", "controller.", "metadata.log.dir", "zookeeper.metadata.migration.enable",
		"client.quota.callback.static.kafka.admin.", "client.quota.callback.static.produce", "client.quota.callback.static.fetch",
		"client.quota.callback.static.storage.per.volume.limit.min.available.", "client.quota.callback.static.excluded.principal.name.list",
		"prometheus.metrics.reporter.", "cordoned.log.dirs"}
	strimziForbiddenConfigExceptions = []string{"zookeeper.connection.timeout.ms", "sasl.server.max.receive.size",
		"ssl.cipher.suites", "ssl.protocol", "ssl.enabled.protocols", "ssl.secure.random.implementation",
		"cruise.control.metrics.topic.num.partitions", "cruise.control.metrics.topic.replication.factor", "cruise.control.metrics.topic.retention.ms",
		"cruise.control.metrics.topic.auto.create.retries", "cruise.control.metrics.topic.auto.create.timeout.ms",
		"cruise.control.metrics.topic.min.insync.replicas",
		"broker.session.timeout.ms", "broker.heartbeat.interval.ms", "controller.socket.timeout.ms",
		"controller.quorum.election.backoff.max.ms", "controller.quorum.election.timeout.ms", "controller.quorum.fetch.timeout.ms"}
)

// Kafka is kind Kafka.
type Kafka struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              KafkaSpec `json:"spec"`
}

type KafkaSpec struct {
	Kafka          KafkaClusterSpec    `json:"kafka"`
	EntityOperator *EntityOperatorSpec `json:"entityOperator,omitempty"`
}

type KafkaClusterSpec struct {
	Version         string                 `json:"version,omitempty"`
	MetadataVersion string                 `json:"metadataVersion,omitempty"`
	Listeners       []GenericKafkaListener `json:"listeners"`
	Authorization   *KafkaAuthorization    `json:"authorization,omitempty"`
	Config          map[string]any         `json:"config,omitempty"`
}

// KafkaAuthorization is spec.kafka.authorization (type simple: Kafka's ACL
// authorizer, the KafkaUsers' ACLs).
type KafkaAuthorization struct {
	Type       string   `json:"type"`
	SuperUsers []string `json:"superUsers,omitempty"`
}

// KafkaListenerAuthentication is a listener's authentication.
type KafkaListenerAuthentication struct {
	Type string `json:"type"`
}

type GenericKafkaListener struct {
	Name           string                       `json:"name"`
	Port           *int32                       `json:"port"`
	Type           string                       `json:"type"`
	TLS            *bool                        `json:"tls"`
	Authentication *KafkaListenerAuthentication `json:"authentication,omitempty"`
}

// KafkaUser is kind KafkaUser: a user the User Operator creates, with its
// credentials in a Secret of its name, and its ACLs.
type KafkaUser struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              KafkaUserSpec `json:"spec"`
}

type KafkaUserSpec struct {
	Authentication *KafkaUserAuthentication `json:"authentication,omitempty"`
	Authorization  *KafkaUserAuthorization  `json:"authorization,omitempty"`
}

type KafkaUserAuthentication struct {
	Type string `json:"type"`
}

type KafkaUserAuthorization struct {
	Type string    `json:"type"`
	ACLs []AclRule `json:"acls"`
}

// AclRule is one ACL; in kafka.strimzi.io/v1 the singular `operation` of
// v1beta2 is gone, `operations` is a list. Type is allow (the default) or
// deny; Host defaults to "*".
type AclRule struct {
	Type       string          `json:"type,omitempty"`
	Resource   AclRuleResource `json:"resource"`
	Host       string          `json:"host,omitempty"`
	Operations []string        `json:"operations"`
}

type AclRuleResource struct {
	Type        string `json:"type"`
	Name        string `json:"name,omitempty"`
	PatternType string `json:"patternType,omitempty"`
}

type EntityOperatorSpec struct {
	TopicOperator *EntityOperatorComponent `json:"topicOperator,omitempty"`
	UserOperator  *EntityOperatorComponent `json:"userOperator,omitempty"`
}

type EntityOperatorComponent struct {
	WatchedNamespace         string                       `json:"watchedNamespace,omitempty"`
	ReconciliationIntervalMs *int64                       `json:"reconciliationIntervalMs,omitempty"`
	Resources                *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// KafkaNodePool is kind KafkaNodePool.
type KafkaNodePool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              KafkaNodePoolSpec `json:"spec"`
}

type KafkaNodePoolSpec struct {
	Replicas  *int32                       `json:"replicas"`
	Roles     []string                     `json:"roles"`
	Storage   *Storage                     `json:"storage"`
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
}

type Storage struct {
	Type    string          `json:"type"`
	Volumes []StorageVolume `json:"volumes,omitempty"`
}

type StorageVolume struct {
	ID            *int32 `json:"id"`
	Type          string `json:"type"`
	Size          string `json:"size,omitempty"`
	Class         string `json:"class,omitempty"`
	DeleteClaim   *bool  `json:"deleteClaim,omitempty"`
	KraftMetadata string `json:"kraftMetadata,omitempty"`
}

// KafkaTopic is kind KafkaTopic.
type KafkaTopic struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              KafkaTopicSpec `json:"spec"`
}

type KafkaTopicSpec struct {
	TopicName  string         `json:"topicName,omitempty"`
	Partitions *int32         `json:"partitions,omitempty"`
	Replicas   *int32         `json:"replicas,omitempty"`
	Config     map[string]any `json:"config,omitempty"`
}

// Topic is the Kafka topic a KafkaTopic stands for.
func (kt *KafkaTopic) Topic() string {
	if kt.Spec.TopicName != "" {
		return kt.Spec.TopicName
	}
	return kt.Name
}

var (
	listenerName  = regexp.MustCompile(`^[a-z0-9]{1,11}$`)
	listenerTypes = []string{"internal", "route", "tlsroute", "loadbalancer", "nodeport", "ingress", "cluster-ip"}
)

// validate checks what the CRD's schema says beyond field names: required
// fields, enums, patterns and minimums.
func (k *Kafka) validate() []string {
	var errs []string
	if len(k.Spec.Kafka.Listeners) == 0 {
		errs = append(errs, "spec.kafka.listeners: required")
	}
	for i, l := range k.Spec.Kafka.Listeners {
		where := fmt.Sprintf("spec.kafka.listeners[%d]", i)
		if !listenerName.MatchString(l.Name) {
			errs = append(errs, fmt.Sprintf("%s.name %q: want %s", where, l.Name, listenerName))
		}
		if l.Port == nil || *l.Port < 9092 {
			errs = append(errs, where+".port: required, at least 9092")
		}
		if !slices.Contains(listenerTypes, l.Type) {
			errs = append(errs, fmt.Sprintf("%s.type %q: want one of %v", where, l.Type, listenerTypes))
		}
		if l.TLS == nil {
			errs = append(errs, where+".tls: required")
		}
	}
	if v := k.Spec.Kafka.Version; v != "" && !slices.Contains(strimziKafkaVersions, v) {
		errs = append(errs, fmt.Sprintf("spec.kafka.version %q: Strimzi supports %v", v, strimziKafkaVersions))
	}
	if v, mv := k.Spec.Kafka.Version, k.Spec.Kafka.MetadataVersion; v != "" && mv != "" {
		major, minor, _ := strings.Cut(v, ".")
		minor, _, _ = strings.Cut(minor, ".")
		if !strings.HasPrefix(mv, major+"."+minor+"-") {
			errs = append(errs, fmt.Sprintf("spec.kafka.metadataVersion %q: want %s.%s-IVn for Kafka %s", mv, major, minor, v))
		}
	}
	for key := range k.Spec.Kafka.Config {
		if slices.Contains(strimziForbiddenConfigExceptions, key) {
			continue
		}
		for _, prefix := range strimziForbiddenConfig {
			if strings.HasPrefix(key, prefix) {
				errs = append(errs, fmt.Sprintf("spec.kafka.config %q: Strimzi manages %q itself and refuses it", key, prefix))
			}
		}
	}
	return errs
}

func (np *KafkaNodePool) validate() []string {
	var errs []string
	if np.Spec.Replicas == nil || *np.Spec.Replicas < 0 {
		errs = append(errs, "spec.replicas: required, at least 0")
	}
	if len(np.Spec.Roles) == 0 {
		errs = append(errs, "spec.roles: required")
	}
	for _, r := range np.Spec.Roles {
		if r != "controller" && r != "broker" {
			errs = append(errs, fmt.Sprintf("spec.roles: %q; want controller or broker", r))
		}
	}
	st := np.Spec.Storage
	if st == nil {
		return append(errs, "spec.storage: required")
	}
	if !slices.Contains([]string{"ephemeral", "persistent-claim", "jbod"}, st.Type) {
		errs = append(errs, fmt.Sprintf("spec.storage.type %q: want ephemeral, persistent-claim or jbod", st.Type))
	}
	if st.Type == "jbod" && len(st.Volumes) == 0 {
		errs = append(errs, "spec.storage.volumes: jbod needs at least one volume")
	}
	for i, v := range st.Volumes {
		where := fmt.Sprintf("spec.storage.volumes[%d]", i)
		if v.ID == nil || *v.ID < 0 {
			errs = append(errs, where+".id: required, at least 0")
		}
		if v.Type != "ephemeral" && v.Type != "persistent-claim" {
			errs = append(errs, fmt.Sprintf("%s.type %q: want ephemeral or persistent-claim", where, v.Type))
		}
		if v.Type == "persistent-claim" && v.Size == "" {
			errs = append(errs, where+".size: a persistent claim needs a size")
		}
		if v.KraftMetadata != "" && v.KraftMetadata != "shared" {
			errs = append(errs, fmt.Sprintf("%s.kraftMetadata %q: want shared", where, v.KraftMetadata))
		}
	}
	return errs
}

func (kt *KafkaTopic) validate() []string {
	var errs []string
	if p := kt.Spec.Partitions; p != nil && *p < 1 {
		errs = append(errs, "spec.partitions: at least 1")
	}
	if r := kt.Spec.Replicas; r != nil && (*r < 1 || *r > 32767) {
		errs = append(errs, "spec.replicas: 1 to 32767")
	}
	return errs
}

// Package java holds the one type pulumi-docker-build uses from the Java codegen:
// the Java section of a package schema. Field order, JSON names and omitempty follow
// pulumi-java v1.29.0, so the provider's schema is unchanged.
package java

// PackageInfo is the Java language-specific info of a package schema.
type PackageInfo struct {
	Packages                        map[string]string `json:"packages,omitempty"`
	BasePackage                     string            `json:"basePackage"`
	BuildFiles                      string            `json:"buildFiles"`
	Dependencies                    map[string]string `json:"dependencies,omitempty"`
	GradleNexusPublishPluginVersion string            `json:"gradleNexusPublishPluginVersion"`
	GradleTest                      string            `json:"gradleTest"`
}

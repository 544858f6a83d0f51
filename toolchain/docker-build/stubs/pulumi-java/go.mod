// Stand-in for pulumi-java, which the Go proxy refuses to serve.
// pulumi-docker-build imports it only for one struct of Java schema metadata.
module github.com/pulumi/pulumi-java

go 1.24

package awsspec

import "strings"

// DefaultPartition is the partition of an ARN whose partition is not known.
const DefaultPartition = "aws"

// RoleARN is arn:<partition>:iam::<account>:role<path><name>. An empty path
// is "/"; a non-empty one must start and end with "/".
func RoleARN(partition, account, path, name string) string {
	if path == "" {
		path = "/"
	}
	return "arn:" + partition + ":iam::" + account + ":role" + path + name
}

// AssumedRoleARN is arn:<partition>:sts::<account>:assumed-role/<role>/<session>.
func AssumedRoleARN(partition, account, roleName, sessionName string) string {
	return "arn:" + partition + ":sts::" + account + ":assumed-role/" + roleName + "/" + sessionName
}

// SAMLProviderARN is arn:<partition>:iam::<account>:saml-provider/<name>.
func SAMLProviderARN(partition, account, name string) string {
	return "arn:" + partition + ":iam::" + account + ":saml-provider/" + name
}

// OIDCProviderARN is arn:<partition>:iam::<account>:oidc-provider/<host and
// path of the issuer URL>.
func OIDCProviderARN(partition, account, issuerHostPath string) string {
	return "arn:" + partition + ":iam::" + account + ":oidc-provider/" + issuerHostPath
}

// PolicyARN is arn:<partition>:iam::<account>:policy/<name> (a customer
// managed policy without a path).
func PolicyARN(partition, account, name string) string {
	return "arn:" + partition + ":iam::" + account + ":policy/" + name
}

// RootARN is arn:<partition>:iam::<account>:root, the account principal.
func RootARN(partition, account string) string {
	return "arn:" + partition + ":iam::" + account + ":root"
}

// RoleNameFromARN is the last path segment of a role ARN, without its path:
// arn:aws:iam::1:role/a/b/Name gives Name. A string that is not a role ARN
// gives "".
func RoleNameFromARN(arn string) string {
	_, rest, ok := strings.Cut(arn, ":role/")
	if !ok || !strings.HasPrefix(arn, "arn:") {
		return ""
	}
	return rest[strings.LastIndexByte(rest, '/')+1:]
}

// PartitionOf is the partition of an ARN (its second field), or
// DefaultPartition when the ARN has none.
func PartitionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) < 3 || parts[0] != "arn" || parts[1] == "" {
		return DefaultPartition
	}
	return parts[1]
}

// AccountOf is the account id of an ARN (its fifth field), or "" when the
// string is not an ARN or names no account.
func AccountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return ""
	}
	return parts[4]
}

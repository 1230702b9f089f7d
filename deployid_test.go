package fleetgate_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
)

// The deploy id comes from the first platform variable that is set, in a
// fixed order, so the same environment always yields the same id.
func TestDetectDeployID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "Nothing", want: ""},
		{name: "Explicit", env: map[string]string{"FLEETGATE_DEPLOY_ID": "release-7"}, want: "release-7"},
		{name: "ExplicitWinsOverPlatform", env: map[string]string{"FLEETGATE_DEPLOY_ID": "release-7", "DEPLOYMENT_ID": "d-ABC", "GITHUB_RUN_ID": "99"}, want: "release-7"},
		{name: "CodeDeploy", env: map[string]string{"DEPLOYMENT_ID": "d-ABCDEF123"}, want: "codedeploy:d-ABCDEF123"},
		{name: "ECSTask", env: map[string]string{"ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/a1b2c3d4-task-container"}, want: "ecs:a1b2c3d4-task-container"},
		{name: "ECSTrailingSlash", env: map[string]string{"ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/abc/"}, want: "ecs:abc"},
		{name: "CodeDeployBeforeECS", env: map[string]string{"DEPLOYMENT_ID": "d-1", "ECS_CONTAINER_METADATA_URI_V4": "http://x/v4/abc"}, want: "codedeploy:d-1"},
		{name: "KubernetesPodName", env: map[string]string{"POD_NAME": "api-7d9f-xk2", "KUBERNETES_SERVICE_HOST": "10.0.0.1", "HOSTNAME": "other"}, want: "k8s:api-7d9f-xk2"},
		{name: "KubernetesHostname", env: map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "HOSTNAME": "api-7d9f-xk2"}, want: "k8s:api-7d9f-xk2"},
		{name: "HostnameAloneIsNotKubernetes", env: map[string]string{"HOSTNAME": "laptop"}, want: ""},
		{name: "KubernetesWithoutHostname", env: map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, want: ""},
		{name: "KubernetesBeforeCI", env: map[string]string{"POD_NAME": "p", "GITHUB_RUN_ID": "1"}, want: "k8s:p"},
		{name: "GitHubActions", env: map[string]string{"GITHUB_RUN_ID": "8812345678"}, want: "github:8812345678"},
		{name: "GitLabCI", env: map[string]string{"CI_PIPELINE_ID": "4242"}, want: "gitlab:4242"},
		{name: "GitHubBeforeGitLab", env: map[string]string{"GITHUB_RUN_ID": "1", "CI_PIPELINE_ID": "2"}, want: "github:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := fleetgate.DetectDeployID(func(k string) string { return tt.env[k] })
			require.Equal(t, tt.want, got)
		})
	}
}

"""ECR patches: repository URIs and GetAuthorizationToken point at the
test-bed registry (docker-registry on 127.0.0.1:5000), so an ECR repositoryUri
is directly usable by docker/podman and `docker login` with the returned token
works against the registry's htpasswd."""
import time
from base64 import b64encode

from moto.core.responses import ActionResult
from moto.ecr import models as ecr_models
from moto.ecr.responses import ECRResponse

from . import engine


def install():
    orig_init = ecr_models.Repository.__init__

    def init(self, *args, **kwargs):
        orig_init(self, *args, **kwargs)
        self.uri = f"{engine.registry()}/{self.name}"

    ecr_models.Repository.__init__ = init

    def get_authorization_token(self):
        registry_ids = self._get_param("registryIds") or [self.current_account]
        data = []
        for registry_id in registry_ids:
            token = b64encode(f"AWS:{registry_id}-auth-token".encode()).decode()
            data.append({
                "authorizationToken": token,
                "expiresAt": time.time() + 12 * 3600,
                "proxyEndpoint": f"http://{engine.registry()}",
            })
        return ActionResult({"authorizationData": data})

    ECRResponse.get_authorization_token = get_authorization_token

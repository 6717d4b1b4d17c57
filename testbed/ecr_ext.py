"""ECR patches: repository URIs and GetAuthorizationToken point at the
test-bed registry (docker-registry on 127.0.0.1:5000), so an ECR repositoryUri
is directly usable by docker/podman and `docker login` with the returned token
works against the registry's htpasswd."""
import json
import time
import urllib.error
import urllib.request
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

    # --- ECR images backed by the registry (added for `wharf promote`) -------------------------
    # Images reach the test-bed registry through `docker push`, which moto never sees. Real ECR
    # is one store behind both its API and its registry endpoint, so BatchGetImage falls back to
    # the registry for images moto does not know (and remembers them), and PutImage also writes
    # the manifest to the registry under the new tag, so `docker pull` sees what the API tagged.
    orig_batch_get_image = ecr_models.ECRBackend.batch_get_image
    orig_put_image = ecr_models.ECRBackend.put_image

    def batch_get_image(self, repository_name, registry_id=None, image_ids=None):
        response = orig_batch_get_image(self, repository_name, registry_id, image_ids)
        repository = self.repositories.get(repository_name)
        still_failing = []
        for failure in response["failures"]:
            wanted = next(
                (i for i in (image_ids or [])
                 if i.get("imageTag", "null") == failure["imageId"].get("imageTag")),
                None,
            )
            ref = wanted and (wanted.get("imageDigest") or wanted.get("imageTag"))
            fetched = ref and _registry_manifest(repository_name, ref)
            if not fetched:
                still_failing.append(failure)
                continue
            body, media_type, digest = fetched
            tag = wanted.get("imageTag")
            image = next((i for i in repository.images if i.get_image_digest() == digest), None)
            if image is None:
                image = ecr_models.Image(self.account_id, tag, body, repository_name,
                                         media_type, digest)
                repository.images.append(image)
            elif tag and tag not in image.image_tags:
                image.image_tags.append(tag)
            response["images"].append(image)
        response["failures"] = still_failing
        return response

    def put_image(self, repository_name, image_manifest, image_tag,
                  image_manifest_mediatype=None, digest=None):
        image = orig_put_image(self, repository_name, image_manifest, image_tag,
                               image_manifest_mediatype, digest)
        media_type = image_manifest_mediatype or json.loads(image_manifest).get("mediaType")
        _registry_put_manifest(repository_name, image_tag, image_manifest, media_type)
        return image

    ecr_models.ECRBackend.batch_get_image = batch_get_image
    ecr_models.ECRBackend.put_image = put_image


_MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


def _auth_header():
    user, password = engine.registry_creds()
    return "Basic " + b64encode(f"{user}:{password}".encode()).decode()


def _registry_manifest(repository, reference):
    """(body, media type, digest) of a manifest in the test-bed registry, or None."""
    req = urllib.request.Request(
        f"http://{engine.registry()}/v2/{repository}/manifests/{reference}",
        headers={"Authorization": _auth_header(), "Accept": _MANIFEST_TYPES},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return (resp.read().decode(), resp.headers.get("Content-Type"),
                    resp.headers.get("Docker-Content-Digest"))
    except (urllib.error.URLError, OSError):
        return None


def _registry_put_manifest(repository, tag, body, media_type):
    req = urllib.request.Request(
        f"http://{engine.registry()}/v2/{repository}/manifests/{tag}",
        data=body.encode(),
        method="PUT",
        headers={"Authorization": _auth_header(), "Content-Type": media_type},
    )
    try:
        with urllib.request.urlopen(req, timeout=10):
            pass
    except urllib.error.HTTPError as e:
        # The registry lacks the manifest's blobs (an image only ever put through the API):
        # moto keeps it, as before this patch.
        if e.code not in (400, 404):
            raise

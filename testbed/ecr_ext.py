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
    # the registry for images moto does not know (by tag or digest, and remembers them), and
    # PutImage also writes
    # the manifest to the registry under the new tag, so `docker pull` sees what the API tagged.
    orig_batch_get_image = ecr_models.ECRBackend.batch_get_image
    orig_put_image = ecr_models.ECRBackend.put_image

    def batch_get_image(self, repository_name, registry_id=None, image_ids=None):
        repository = self.repositories.get(repository_name)
        if repository is not None:
            for wanted in image_ids or []:
                if not _known(repository, wanted):
                    _import_from_registry(self.account_id, repository, repository_name, wanted)
        response = orig_batch_get_image(self, repository_name, registry_id, image_ids)
        # As AWS documents: each failure names the image id that was asked for (moto writes
        # {"imageTag": "null"} for a digest).
        response["failures"] = [
            {"imageId": dict(wanted), "failureCode": "ImageNotFound",
             "failureReason": "Requested image not found"}
            for wanted in image_ids or [] if not _known(repository, wanted)
        ]
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


def _known(repository, wanted):
    """Whether moto holds the image `wanted` ({imageDigest} and/or {imageTag}) in `repository`."""
    digest, tag = wanted.get("imageDigest"), wanted.get("imageTag")
    return any((digest and image.get_image_digest() == digest) or (tag and tag in image.image_tags)
               for image in repository.images)


def _import_from_registry(account_id, repository, repository_name, wanted):
    """Makes the image `wanted` known to moto when the registry has it (pushed with docker)."""
    tag = wanted.get("imageTag")
    fetched = _registry_manifest(repository_name, wanted.get("imageDigest") or tag)
    if not fetched:
        return
    body, media_type, digest = fetched
    image = next((i for i in repository.images if i.get_image_digest() == digest), None)
    if image is None:
        repository.images.append(ecr_models.Image(account_id, tag, body, repository_name,
                                                  media_type, digest))
    elif tag and tag not in image.image_tags:
        image.image_tags.append(tag)


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


# --------------------------------------------------------------------------- image sync
_ACCEPT = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


def _registry_get(path, accept=None):
    import urllib.request
    user, pw = engine.registry_creds()
    headers = {"Authorization": "Basic " + b64encode(f"{user}:{pw}".encode()).decode()}
    if accept:
        headers["Accept"] = accept
    req = urllib.request.Request(f"http://{engine.registry()}{path}", headers=headers)
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.read(), dict(r.headers)


def sync_from_registry(backend, repository_name):
    """Make moto's image list of a repository reflect what was pushed to the
    registry: every tag the registry has becomes an ECR image (same manifest,
    media type and digest).  Images only put with PutImage stay as moto keeps them."""
    import json
    import urllib.error
    repo = backend.repositories.get(repository_name)
    if repo is None:
        return
    try:
        body, _ = _registry_get(f"/v2/{repository_name}/tags/list")
        tags = json.loads(body).get("tags") or []
    except (urllib.error.URLError, OSError, ValueError):
        return
    for tag in tags:
        try:
            manifest, headers = _registry_get(f"/v2/{repository_name}/manifests/{tag}", _ACCEPT)
        except (urllib.error.URLError, OSError):
            continue
        digest = headers.get("Docker-Content-Digest")
        mtype = headers.get("Content-Type")
        have = [i for i in repo.images if getattr(i, "image_digest", None) == digest and
                tag in (getattr(i, "image_tags", None) or [getattr(i, "image_tag", None)])]
        if have:
            continue
        try:
            backend.put_image(repository_name, manifest.decode(), tag, mtype, digest)
        except Exception:  # noqa: BLE001 - e.g. immutable tag already used
            pass


def install_image_sync():
    # BatchGetImage already falls back to the registry (see install()).
    for name in ("list_images", "describe_images"):
        orig = getattr(ecr_models.ECRBackend, name)

        def make(orig):
            def wrapper(self, repository_name, *args, **kwargs):
                sync_from_registry(self, repository_name)
                return orig(self, repository_name, *args, **kwargs)
            return wrapper
        setattr(ecr_models.ECRBackend, name, make(orig))

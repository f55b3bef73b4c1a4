#!/bin/sh
# Entry point of the dirsrv service: the upstream image reads the Directory Manager password from
# DS_DM_PASSWORD only, so take it from the compose secret and start the image's own dscontainer.
set -eu
DS_DM_PASSWORD=$(cat /run/secrets/ds_dm_password)
export DS_DM_PASSWORD
exec /usr/lib/dirsrv/dscontainer -r

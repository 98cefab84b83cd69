# t_metering_node.sh - Debian's node 18 on the system libssl: plain https.request and the
# official openai SDK 4.x, every operation they support, without and with the shim.
NODE18=$AK_CACHE/node18/usr/bin/node
NODE18_LIBS=$AK_CACHE/node18/usr/lib/x86_64-linux-gnu
if [ -x "$NODE18" ]; then
    ak_check "node 18 links the system libssl (ldd)" sh -c \
        "LD_LIBRARY_PATH=$NODE18_LIBS ldd $NODE18 | grep -Eq '=> /(usr/)?lib/x86_64-linux-gnu/libssl\.so\.3'"
    ak_check "node 18 loads the system libssl at run time (LD_DEBUG)" sh -c \
        "LD_DEBUG=libs LD_LIBRARY_PATH=$NODE18_LIBS $NODE18 -e 0 2>&1 | grep -Eq 'init: /(usr/)?lib/x86_64-linux-gnu/libssl\.so\.3'"
fi
ak_check_py matrix node-https node-openai
ak_finish

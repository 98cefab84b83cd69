# t_enforce_deaf.sh - the refusal's wake must not depend on the server: with a mock that
# ignores the client's close_notify (MOCK_DEAF=1), only the shim's shutdown(fd, SHUT_RD) on the
# socket it found (SSL_get_fd, nested sends, or ciphertext fingerprints) can wake the clients
# that wait for readability: curl, PHP curl_multi, aiohttp (asyncio MemoryBIO), Node (TLSWrap).
# Each refusal, on a kept-alive connection too, must still arrive within 2 s.
MOCK_DEAF=1 in_sandbox "$AK_PY" "$AK_IT/enforce/refuse.py" --deaf --no-recover --provider=openai \
    curl php-multi aiohttp node-https || AK_FAILED=$((AK_FAILED + 1))
ak_finish

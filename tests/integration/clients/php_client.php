<?php
// php_client.php - replays a request spec (see akclient.py) with PHP's ext-curl.
//
// One curl easy handle for all calls (its connection cache gives keep-alive); with --multi
// the handle is driven by curl_multi_exec + curl_multi_select, the event-loop style that
// waits for socket readiness. Bodies are written to stdout from the write callback as they
// arrive; "status: N" (or "error: ...") per call goes to stderr. Exit 3 when a call failed.
// Usage: php php_client.php [--multi] SPEC.json

const FAILED = 3;
const SELECT_TIMEOUT_S = 1.0;

function make_options(array $call, array $opts): array
{
    $headers = array_map(fn ($kv) => $kv[0] . ': ' . $kv[1], $call['headers']);
    $o = [
        CURLOPT_URL => $call['url'],
        CURLOPT_CUSTOMREQUEST => $call['method'],
        CURLOPT_HTTPHEADER => $headers,
        CURLOPT_TIMEOUT => $opts['timeout'] ?? 20,
        CURLOPT_WRITEFUNCTION => function ($ch, $data) {
            fwrite(STDOUT, $data);
            return strlen($data);
        },
    ];
    if ($call['body'] !== '') {
        $o[CURLOPT_POSTFIELDS] = $call['body'];
    } else {
        $o[CURLOPT_HTTPGET] = true;
    }
    if (!empty($opts['gzip'])) {
        $o[CURLOPT_ENCODING] = '';
    }
    if (!empty($opts['http2'])) {
        $o[CURLOPT_HTTP_VERSION] = CURL_HTTP_VERSION_2TLS;
    }
    return $o;
}

function run_multi($mh, $ch): int
{
    curl_multi_add_handle($mh, $ch);
    $result = CURLE_OK;
    do {
        $st = curl_multi_exec($mh, $running);
        if ($running && $st === CURLM_OK) {
            curl_multi_select($mh, SELECT_TIMEOUT_S);
        }
        while (($info = curl_multi_info_read($mh)) !== false) {
            $result = $info['result'];
        }
    } while ($running && $st === CURLM_OK);
    curl_multi_remove_handle($mh, $ch);
    return $result;
}

$spec = json_decode(file_get_contents(end($argv)), true);
$multi = in_array('--multi', $argv, true);
$opts = $spec['options'] ?? [];
$ch = curl_init();
$mh = $multi ? curl_multi_init() : null;
$rc = 0;
foreach ($spec['calls'] as $call) {
    curl_setopt_array($ch, make_options($call, $opts));
    $err = $multi ? run_multi($mh, $ch) : (curl_exec($ch) === false ? curl_errno($ch) : CURLE_OK);
    if ($err !== CURLE_OK) {
        fwrite(STDERR, "error: curl " . $err . ": " . curl_strerror($err) . "\n");
        $rc = FAILED;
        continue;
    }
    fwrite(STDERR, "status: " . curl_getinfo($ch, CURLINFO_RESPONSE_CODE) . "\n");
}
if ($mh) {
    curl_multi_close($mh);
}
curl_close($ch);
exit($rc);

# ruby_client.rb - replays a request spec (see akclient.py) with Ruby's Net::HTTP.
#
# All calls go through one Net::HTTP.start session (keep-alive). Bodies are streamed to stdout
# with read_body as they arrive; "status: N" (or "error: ...") per call goes to stderr.
# Exit 0 when every call completed, 3 when one failed.
# Usage: ruby ruby_client.rb SPEC.json
require 'json'
require 'net/http'
require 'uri'

FAILED = 3

spec = JSON.parse(File.read(ARGV.fetch(0)))
calls = spec.fetch('calls')
timeout = spec.fetch('options', {}).fetch('timeout', 20)
$stdout.binmode
$stdout.sync = true
$stderr.sync = true
rc = 0
first = URI(calls[0]['url'])

def make_request(call)
  uri = URI(call['url'])
  req = Net::HTTPGenericRequest.new(call['method'], !call['body'].empty?, true, uri.request_uri)
  call['headers'].each { |k, v| req[k] = v }
  req.body = call['body'] unless call['body'].empty?
  req
end

begin
  Net::HTTP.start(first.host, first.port, use_ssl: true, open_timeout: timeout,
                  read_timeout: timeout) do |http|
    calls.each do |call|
      begin
        http.request(make_request(call)) do |res|
          res.read_body { |chunk| $stdout.write(chunk) }
          $stderr.puts "status: #{res.code}"
        end
      rescue StandardError => e
        $stderr.puts "error: #{e.class}: #{e.message}"
        rc = FAILED
      end
    end
  end
rescue StandardError => e
  $stderr.puts "error: #{e.class}: #{e.message}"
  rc = FAILED
end
exit rc
